// Classic libpcap files (not pcapng): what tcpdump -w writes and every tool
// reads. Encoding only builds bytes; callers write them where they like.
import { type DecodeResult, ok, fail } from './result.js';

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
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
