// Classic libpcap files (not pcapng): what tcpdump -w writes and every tool
// reads. Encoding only builds bytes; callers write them where they like.
import { type DecodeResult, ok, fail } from '../../../src/packet/result.js';

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
/** Linux netlink messages, each behind a 16-byte cooked (SLL) header (what an nlmon device captures). */
export const LINKTYPE_NETLINK = 253;
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_GLOBAL_HLEN = 24;
export const PCAP_RECORD_HLEN = 16;
export const PCAP_DEFAULT_SNAPLEN = 262144;

export interface PcapRecord {
  data: Uint8Array;
  /** Seconds since the epoch (fractional part kept to the microsecond). */
  ts?: number;
  /** Length on the wire if `data` was truncated; default data.length. */
  origLen?: number;
}

export interface PcapOptions {
  linktype?: number;
  snaplen?: number;
  /** Timestamp of records without one: startTime + index milliseconds. Default 1700000000. */
  startTime?: number;
}

/** The 24-byte file header (little-endian, microsecond timestamps). */
export function pcapGlobalHeader(opts?: PcapOptions): Uint8Array {
  const b = new Uint8Array(PCAP_GLOBAL_HLEN);
  const v = new DataView(b.buffer);
  v.setUint32(0, PCAP_MAGIC_US, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setInt32(8, 0, true);
  v.setUint32(12, 0, true);
  v.setUint32(16, opts?.snaplen ?? PCAP_DEFAULT_SNAPLEN, true);
  v.setUint32(20, opts?.linktype ?? LINKTYPE_ETHERNET, true);
  return b;
}

/** The 16-byte header that precedes each record's bytes. */
export function pcapRecordHeader(ts: number, capLen: number, origLen = capLen): Uint8Array {
  const b = new Uint8Array(PCAP_RECORD_HLEN);
  const v = new DataView(b.buffer);
  let sec = Math.floor(ts);
  let usec = Math.round((ts - sec) * 1e6);
  if (usec >= 1e6) { sec++; usec -= 1e6; }
  v.setUint32(0, sec, true);
  v.setUint32(4, usec, true);
  v.setUint32(8, capLen, true);
  v.setUint32(12, origLen, true);
  return b;
}

export function encodePcap(frames: Iterable<Uint8Array | PcapRecord>, opts?: PcapOptions): Uint8Array {
  const snaplen = opts?.snaplen ?? PCAP_DEFAULT_SNAPLEN;
  const start = opts?.startTime ?? 1_700_000_000;
  const parts: Uint8Array[] = [pcapGlobalHeader(opts)];
  let i = 0;
  for (const f of frames) {
    const rec: PcapRecord = f instanceof Uint8Array ? { data: f } : f;
    const data = rec.data.length > snaplen ? rec.data.subarray(0, snaplen) : rec.data;
    parts.push(pcapRecordHeader(rec.ts ?? start + i / 1000, data.length, rec.origLen ?? rec.data.length), data);
    i++;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let p = 0;
  for (const part of parts) { out.set(part, p); p += part.length; }
  return out;
}

export interface PcapFile {
  linktype: number;
  snaplen: number;
  records: Array<{ ts: number; data: Uint8Array; origLen: number }>;
}

export type PcapInvalid = 'truncated' | 'bad-magic';

/** Reads a classic pcap of either byte order and either timestamp resolution; record data are views. */
export function decodePcap(buf: Uint8Array): DecodeResult<PcapFile, PcapInvalid> {
  if (buf.length < PCAP_GLOBAL_HLEN) return fail('truncated');
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let le: boolean;
  let nsec: boolean;
  const mLe = v.getUint32(0, true);
  const mBe = v.getUint32(0, false);
  if (mLe === PCAP_MAGIC_US || mLe === PCAP_MAGIC_NS) { le = true; nsec = mLe === PCAP_MAGIC_NS; }
  else if (mBe === PCAP_MAGIC_US || mBe === PCAP_MAGIC_NS) { le = false; nsec = mBe === PCAP_MAGIC_NS; }
  else return fail('bad-magic');
  const file: PcapFile = { snaplen: v.getUint32(16, le), linktype: v.getUint32(20, le) & 0x0fffffff, records: [] };
  let p = PCAP_GLOBAL_HLEN;
  while (p < buf.length) {
    if (p + PCAP_RECORD_HLEN > buf.length) return fail('truncated');
    const sec = v.getUint32(p, le);
    const frac = v.getUint32(p + 4, le);
    const capLen = v.getUint32(p + 8, le);
    const origLen = v.getUint32(p + 12, le);
    p += PCAP_RECORD_HLEN;
    if (p + capLen > buf.length) return fail('truncated');
    file.records.push({ ts: sec + frac / (nsec ? 1e9 : 1e6), data: buf.subarray(p, p + capLen), origLen });
    p += capLen;
  }
  return ok(file);
}

export const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const PCAPNG_IDB = 1;
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;
const IF_TSRESOL = 9;

export type PcapngInvalid = 'truncated' | 'bad-magic' | 'bad-block' | 'unknown-interface';

/**
 * Reads a pcapng file (what dumpcap and tshark -w write by default): the
 * enhanced and simple packet blocks of every section, in order. `linktype`
 * and `snaplen` are the first interface's; other block types are skipped.
 */
export function decodePcapng(buf: Uint8Array): DecodeResult<PcapFile, PcapngInvalid> {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 12 || v.getUint32(0, true) !== PCAPNG_SHB) return fail('bad-magic');
  const file: PcapFile = { linktype: -1, snaplen: 0, records: [] };
  let le = true;
  let ifaces: Array<{ linktype: number; snaplen: number; unit: number }> = [];
  let p = 0;
  while (p < buf.length) {
    if (p + 12 > buf.length) return fail('truncated');
    // The SHB type reads the same in either byte order, so it is found before the order is known.
    const type = v.getUint32(p, le);
    if (type === PCAPNG_SHB) {
      const magic = v.getUint32(p + 8, true);
      if (magic === PCAPNG_BYTE_ORDER_MAGIC) le = true;
      else if (v.getUint32(p + 8, false) === PCAPNG_BYTE_ORDER_MAGIC) le = false;
      else return fail('bad-magic');
      ifaces = []; // interface ids are per section
    }
    const len = v.getUint32(p + 4, le);
    if (len < 12 || len % 4 !== 0) return fail('bad-block');
    if (p + len > buf.length) return fail('truncated');
    const body = p + 8;
    const bodyEnd = p + len - 4;
    if (type === PCAPNG_IDB) {
      if (body + 8 > bodyEnd) return fail('bad-block');
      let unit = 1e-6;
      for (let o = body + 8; o + 4 <= bodyEnd;) {
        const code = v.getUint16(o, le);
        const olen = v.getUint16(o + 2, le);
        if (code === 0) break;
        if (code === IF_TSRESOL && olen >= 1 && o + 5 <= bodyEnd) {
          const r = buf[o + 4]!;
          unit = r & 0x80 ? 2 ** -(r & 0x7f) : 10 ** -r;
        }
        o += 4 + ((olen + 3) & ~3);
      }
      const iface = { linktype: v.getUint16(body, le), snaplen: v.getUint32(body + 4, le), unit };
      ifaces.push(iface);
      if (file.linktype < 0) { file.linktype = iface.linktype; file.snaplen = iface.snaplen; }
    } else if (type === PCAPNG_EPB) {
      if (body + 20 > bodyEnd) return fail('bad-block');
      const iface = ifaces[v.getUint32(body, le)];
      if (!iface) return fail('unknown-interface');
      const ts = (v.getUint32(body + 4, le) * 2 ** 32 + v.getUint32(body + 8, le)) * iface.unit;
      const capLen = v.getUint32(body + 12, le);
      if (body + 20 + capLen > bodyEnd) return fail('bad-block');
      file.records.push({ ts, data: buf.subarray(body + 20, body + 20 + capLen), origLen: v.getUint32(body + 16, le) });
    } else if (type === PCAPNG_SPB) {
      const iface = ifaces[0];
      if (!iface) return fail('unknown-interface');
      const origLen = v.getUint32(body, le);
      const capLen = Math.min(origLen, iface.snaplen || origLen, bodyEnd - body - 4);
      file.records.push({ ts: 0, data: buf.subarray(body + 4, body + 4 + capLen), origLen });
    }
    p += len;
  }
  return ok(file);
}

/** Either format, told apart by the first four bytes. */
export function decodeCapture(buf: Uint8Array): DecodeResult<PcapFile, PcapInvalid | PcapngInvalid> {
  if (buf.length >= 4 && new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0, true) === PCAPNG_SHB) return decodePcapng(buf);
  return decodePcap(buf);
}
