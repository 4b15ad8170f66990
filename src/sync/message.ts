// The IPVS connection-sync wire format (the kernel's ip_vs_sync.c), byte for
// byte, so that lvsd and a kernel IPVS director can sync with each other.
//
// Version 1 message (what the kernel sends by default, sync_version=1):
//   struct ip_vs_sync_mesg  { u8 reserved=0; u8 syncid; be16 size; u8 nr_conns; s8 version=1; u16 spare=0; }
//   then nr_conns entries, each 32-bit aligned (padding counted in size):
//   struct ip_vs_sync_v4    { u8 type=0; u8 protocol; be16 ver_size (version<<12 | size);
//                             be32 flags; be16 state; be16 cport, vport, dport;
//                             be32 fwmark; be32 timeout (s); be32 caddr, vaddr, daddr; }   36 bytes
//   struct ip_vs_sync_v6    { the same first 24 bytes, type=STYPE_F_INET6 (bit 0);
//                             struct in6_addr caddr, vaddr, daddr; }                   72 bytes
//   IPv4 and IPv6 entries mix in one message, each as its conn's family says
//   (ip_vs_sync_conn() picks the struct per conn). Either is
//   followed by options { u8 type; u8 len; data } up to ver_size (SEQ_DATA 1,
//   PE_DATA 2, PE_NAME 3; type bit 0x40 = optional). lvsd parses and skips
//   them: it has no sequence adjustment (no FTP helper) and no --pe.
// Version 0 message (accepted on receive):
//   struct ip_vs_sync_mesg_v0 { u8 nr_conns; u8 syncid; be16 size; }
//   struct ip_vs_sync_conn_v0 { u8 reserved; u8 protocol; be16 cport, vport, dport;
//                               be32 caddr, vaddr, daddr; be16 flags; be16 state; }  24 bytes
//   + 24 bytes of ip_vs_sync_conn_options when flags has IP_VS_CONN_F_SEQ_MASK.
// A v1 message starts with 0, which a v0 receiver reads as nr_conns=0.
//
// IPv4 addresses are u32 in host order here (as the engine keeps them); on
// the wire they are network order. IPv6 addresses are their 16 wire bytes.
// decode() never throws.

export const SYNC_PROTO_VER = 1;
export const SYNC_MESG_HLEN = 8;
export const SYNC_MESG_V0_HLEN = 4;
export const SYNC_V4_LEN = 36;
export const SYNC_V6_LEN = 72;
export const SYNC_CONN_V0_LEN = 24;
export const SYNC_CONN_OPTIONS_LEN = 24;
export const STYPE_F_INET6 = 1;
export const SVER_SHIFT = 12;
export const SVER_MASK = 0x0fff;

export const IPVS_OPT_SEQ_DATA = 1;
export const IPVS_OPT_PE_DATA = 2;
export const IPVS_OPT_PE_NAME = 3;
export const IPVS_OPT_F_PARAM = 0x40;

/** include/uapi/linux/ip_vs.h IP_VS_CONN_F_*: the flags as the wire carries them. */
export const IP_VS_CONN_F_FWD_MASK = 0x0007;
export const IP_VS_CONN_F_MASQ = 0x0000;
export const IP_VS_CONN_F_LOCALNODE = 0x0001;
export const IP_VS_CONN_F_TUNNEL = 0x0002;
export const IP_VS_CONN_F_DROUTE = 0x0003;
export const IP_VS_CONN_F_SYNC = 0x0020;
export const IP_VS_CONN_F_HASHED = 0x0040;
export const IP_VS_CONN_F_NOOUTPUT = 0x0080;
export const IP_VS_CONN_F_INACTIVE = 0x0100;
export const IP_VS_CONN_F_SEQ_MASK = 0x0600;
export const IP_VS_CONN_F_NO_CPORT = 0x0800;
export const IP_VS_CONN_F_TEMPLATE = 0x1000;
export const IP_VS_CONN_F_ONE_PACKET = 0x2000;
export const IP_VS_CONN_F_BACKUP_MASK = IP_VS_CONN_F_FWD_MASK | IP_VS_CONN_F_NOOUTPUT | IP_VS_CONN_F_INACTIVE
  | IP_VS_CONN_F_SEQ_MASK | IP_VS_CONN_F_NO_CPORT | IP_VS_CONN_F_TEMPLATE;

/** The addresses of an IPv6 entry (ip_vs_sync_v6): 16 bytes each, network order as on the wire. */
export interface SyncAddrs6 {
  caddr: Uint8Array;
  vaddr: Uint8Array;
  daddr: Uint8Array;
}

/** One synced connection or template, as ip_vs_sync_v4 or ip_vs_sync_v6 carries it. */
export interface SyncConn {
  protocol: number;
  /** IP_VS_CONN_F_* */
  flags: number;
  /** IPVS state number (IP_VS_TCP_S_*; 0 for UDP and templates). */
  state: number;
  cport: number;
  vport: number;
  dport: number;
  fwmark: number;
  /** Seconds; 0 in version 0 (the receiver uses its own state timeout). */
  timeout: number;
  /** IPv4 entry: the addresses (u32, host order); 0 in an IPv6 entry. */
  caddr: number;
  vaddr: number;
  daddr: number;
  /** IPv6 entry (type STYPE_F_INET6): its addresses; absent (or undefined) for an IPv4 entry. */
  v6?: SyncAddrs6 | undefined;
}

export interface SyncMessage {
  version: 0 | 1;
  syncid: number;
  conns: SyncConn[];
  /** Entries skipped inside an otherwise good message (unknown mandatory option, PE data), as the kernel skips them. */
  skipped: number;
}

export type DecodeReason = 'short' | 'bad_size' | 'other_syncid' | 'bad_version' | 'bad_entry';
export type DecodeResult = { ok: true; msg: SyncMessage } | { ok: false; reason: DecodeReason; detail: string };

export function newSyncConn(): SyncConn {
  return { protocol: 0, flags: 0, state: 0, cport: 0, vport: 0, dport: 0, fwmark: 0, timeout: 0, caddr: 0, vaddr: 0, daddr: 0, v6: undefined };
}

export function newSyncAddrs6(): SyncAddrs6 {
  return { caddr: new Uint8Array(16), vaddr: new Uint8Array(16), daddr: new Uint8Array(16) };
}

/**
 * Builds version 1 messages up to `maxlen` bytes (sync_maxlen: the UDP
 * payload), as ip_vs_sync_conn() fills its sync_buff: add() appends and
 * returns a full message when the entry did not fit in the current one.
 * An entry larger than maxlen on its own still goes out, alone in a message
 * of its size (ip_vs_sync_buff_create sizes the buffer max(entry, maxlen)):
 * a master may be given any sync_maxlen from 1 up.
 */
export class SyncEncoder {
  private buf: Uint8Array;
  private view: DataView;
  private len = SYNC_MESG_HLEN;
  private n = 0;

  constructor(readonly syncid: number, readonly maxlen: number) {
    if (!Number.isInteger(maxlen) || maxlen < 1 || maxlen > 65535) throw new RangeError(`sync maxlen ${maxlen} is not in 1..65535`);
    this.buf = new Uint8Array(Math.max(maxlen, SYNC_MESG_HLEN + SYNC_V6_LEN));
    this.view = new DataView(this.buf.buffer);
  }

  get count(): number { return this.n; }
  get bytes(): number { return this.len; }

  /** Appends one entry; returns the finished previous message if this one did not fit, else null. */
  add(c: SyncConn): Uint8Array | null {
    const size = c.v6 !== undefined ? SYNC_V6_LEN : SYNC_V4_LEN;
    const pad = (4 - (this.len & 3)) & 3;
    let done: Uint8Array | null = null;
    // nr_conns is a u8: a message carries at most 255 entries.
    if (this.n > 0 && (this.len + pad + size > this.maxlen || this.n === 255)) {
      done = this.flush();
    }
    const p = this.len + (this.n > 0 ? pad : 0);
    this.buf.fill(0, this.len, p);
    if (c.v6 !== undefined) writeV6(this.buf, this.view, p, c, c.v6);
    else writeV4(this.view, p, c);
    this.len = p + size;
    this.n++;
    return done;
  }

  /** The current message (a copy), or null when empty; the encoder starts a new one. */
  flush(): Uint8Array | null {
    if (this.n === 0) return null;
    const v = this.view;
    v.setUint8(0, 0);
    v.setUint8(1, this.syncid);
    v.setUint16(2, this.len);
    v.setUint8(4, this.n);
    v.setInt8(5, SYNC_PROTO_VER);
    v.setUint16(6, 0);
    const out = this.buf.slice(0, this.len);
    this.len = SYNC_MESG_HLEN;
    this.n = 0;
    return out;
  }
}

/** The 24 bytes ip_vs_sync_v4 and ip_vs_sync_v6 share: type, protocol, ver_size, flags, state, ports, fwmark, timeout. */
function writeCommon(v: DataView, p: number, c: SyncConn, type: number, size: number): void {
  v.setUint8(p, type);
  v.setUint8(p + 1, c.protocol);
  v.setUint16(p + 2, size & SVER_MASK);
  v.setUint32(p + 4, (c.flags & ~IP_VS_CONN_F_HASHED) >>> 0);
  v.setUint16(p + 8, c.state);
  v.setUint16(p + 10, c.cport);
  v.setUint16(p + 12, c.vport);
  v.setUint16(p + 14, c.dport);
  v.setUint32(p + 16, c.fwmark >>> 0);
  v.setUint32(p + 20, c.timeout >>> 0);
}

function writeV4(v: DataView, p: number, c: SyncConn): void {
  writeCommon(v, p, c, 0, SYNC_V4_LEN);
  v.setUint32(p + 24, c.caddr >>> 0);
  v.setUint32(p + 28, c.vaddr >>> 0);
  v.setUint32(p + 32, c.daddr >>> 0);
}

function writeV6(b: Uint8Array, v: DataView, p: number, c: SyncConn, a: SyncAddrs6): void {
  writeCommon(v, p, c, STYPE_F_INET6, SYNC_V6_LEN);
  b.set(a.caddr.subarray(0, 16), p + 24);
  b.set(a.vaddr.subarray(0, 16), p + 40);
  b.set(a.daddr.subarray(0, 16), p + 56);
}

/** One version 1 message holding `conns` (all must fit: tests and tools). */
export function encodeMessage(syncid: number, conns: readonly SyncConn[], maxlen = 65507): Uint8Array {
  const e = new SyncEncoder(syncid, maxlen);
  for (const c of conns) if (e.add(c) !== null) throw new RangeError('entries do not fit in one message');
  return e.flush() ?? headerOnly(syncid);
}

function headerOnly(syncid: number): Uint8Array {
  const b = new Uint8Array(SYNC_MESG_HLEN);
  b[1] = syncid;
  b[3] = SYNC_MESG_HLEN;
  b[5] = SYNC_PROTO_VER;
  return b;
}

/**
 * ip_vs_process_message(): a datagram → its entries, or why it is dropped.
 * `syncid` 0 accepts every sync id (as the kernel's backup with syncid 0).
 * Like the kernel, a structural error inside the entry list drops the whole
 * datagram; an entry that is well-formed but not for us (an unknown
 * mandatory option, PE data) is skipped. IPv4 and IPv6 entries both decode.
 */
export function decodeMessage(buf: Uint8Array, syncid: number): DecodeResult {
  const len = buf.length;
  if (len < SYNC_MESG_V0_HLEN) return fail('short', `${len} bytes, below the 4-byte header`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const size = v.getUint16(2);
  if (size !== len) return fail('bad_size', `header size ${size} != datagram length ${len}`);
  const id = buf[1]!;
  if (syncid !== 0 && id !== syncid) return fail('other_syncid', `syncid ${id}, ours ${syncid}`);
  if (buf[0] === 0 && len >= SYNC_MESG_HLEN && v.getInt8(5) === SYNC_PROTO_VER && v.getUint16(6) === 0) return decodeV1(v, len, id);
  if (buf[0] === 0) {
    // nr_conns 0 in v0 terms: an empty v0 message, or a v1 header with a version we do not know.
    if (len >= SYNC_MESG_HLEN && v.getInt8(5) !== 0) return fail('bad_version', `version ${v.getInt8(5)}`);
    if (len === SYNC_MESG_V0_HLEN) return { ok: true, msg: { version: 0, syncid: id, conns: [], skipped: 0 } };
    return fail('bad_version', 'reserved byte 0 but not a version 1 header');
  }
  return decodeV0(v, len, id);
}

function fail(reason: DecodeReason, detail: string): DecodeResult {
  return { ok: false, reason, detail };
}

function decodeV1(v: DataView, len: number, id: number): DecodeResult {
  const n = v.getUint8(4);
  const conns: SyncConn[] = [];
  let skipped = 0;
  let p = SYNC_MESG_HLEN;
  for (let k = 0; k < n; k++) {
    // The kernel checks room for the smaller struct here and the entry's own size after.
    if (p + SYNC_V4_LEN > len) return fail('bad_entry', `entry ${k}: truncated at byte ${p}`);
    const vs = v.getUint16(p + 2);
    const size = vs & SVER_MASK;
    const end = p + size;
    if (end > len) return fail('bad_entry', `entry ${k}: size ${size} runs past the datagram`);
    if (vs >>> SVER_SHIFT !== 0) return fail('bad_entry', `entry ${k}: unknown entry version ${vs >>> SVER_SHIFT}`);
    const type = v.getUint8(p);
    let o: number;
    if (type & STYPE_F_INET6) o = p + SYNC_V6_LEN;
    else if (type === 0) o = p + SYNC_V4_LEN;
    else return fail('bad_entry', `entry ${k}: unknown type ${type}`);
    if (o > end) return fail('bad_entry', `entry ${k}: size ${size} below its address block`);
    const v6 = (type & STYPE_F_INET6) !== 0;
    let skip = false;
    // Options: type, len, data; the kernel rejects len 0 and options running past the entry.
    let seen = 0;
    while (o < end) {
      if (o + 2 > end) return fail('bad_entry', `entry ${k}: option header truncated`);
      const ptype = v.getUint8(o);
      const plen = v.getUint8(o + 1);
      o += 2;
      if (plen === 0 || o + plen > end) return fail('bad_entry', `entry ${k}: option ${ptype} length ${plen}`);
      const t = ptype & ~IPVS_OPT_F_PARAM;
      if (t === IPVS_OPT_SEQ_DATA || t === IPVS_OPT_PE_DATA || t === IPVS_OPT_PE_NAME) {
        if (t === IPVS_OPT_SEQ_DATA && plen !== SYNC_CONN_OPTIONS_LEN) return fail('bad_entry', `entry ${k}: sequence option length ${plen}`);
        if (t === IPVS_OPT_PE_NAME && plen > 16) return fail('bad_entry', `entry ${k}: pe name length ${plen}`);
        if (seen & (1 << t)) return fail('bad_entry', `entry ${k}: option ${t} twice`);
        seen |= 1 << t;
        // PE data (e.g. sip's Call-ID) needs the named engine; lvsd has none: the kernel skips such entries too.
        if (t === IPVS_OPT_PE_DATA) skip = true;
      } else if (!(ptype & IPVS_OPT_F_PARAM)) {
        skip = true; // unknown mandatory option: this entry is dropped, the message goes on
      }
      o += plen;
    }
    if (skip) skipped++;
    else {
      const b = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      conns.push({
        protocol: v.getUint8(p + 1),
        flags: v.getUint32(p + 4),
        state: v.getUint16(p + 8),
        cport: v.getUint16(p + 10),
        vport: v.getUint16(p + 12),
        dport: v.getUint16(p + 14),
        fwmark: v.getUint32(p + 16),
        timeout: v.getUint32(p + 20),
        caddr: v6 ? 0 : v.getUint32(p + 24),
        vaddr: v6 ? 0 : v.getUint32(p + 28),
        daddr: v6 ? 0 : v.getUint32(p + 32),
        ...(v6 ? { v6: { caddr: b.slice(p + 24, p + 40), vaddr: b.slice(p + 40, p + 56), daddr: b.slice(p + 56, p + 72) } } : {}),
      });
    }
    p += (size + 3) & ~3;
  }
  return { ok: true, msg: { version: 1, syncid: id, conns, skipped } };
}

function decodeV0(v: DataView, len: number, id: number): DecodeResult {
  const n = v.getUint8(0);
  const conns: SyncConn[] = [];
  let p = SYNC_MESG_V0_HLEN;
  for (let k = 0; k < n; k++) {
    if (p + SYNC_CONN_V0_LEN > len) return fail('bad_entry', `v0 entry ${k}: truncated at byte ${p}`);
    const flags = v.getUint16(p + 20);
    const full = (flags & IP_VS_CONN_F_SEQ_MASK) !== 0;
    const next = p + SYNC_CONN_V0_LEN + (full ? SYNC_CONN_OPTIONS_LEN : 0);
    if (next > len) return fail('bad_entry', `v0 entry ${k}: options truncated`);
    conns.push({
      protocol: v.getUint8(p + 1),
      cport: v.getUint16(p + 2),
      vport: v.getUint16(p + 4),
      dport: v.getUint16(p + 6),
      caddr: v.getUint32(p + 8),
      vaddr: v.getUint32(p + 12),
      daddr: v.getUint32(p + 16),
      flags,
      state: v.getUint16(p + 22),
      fwmark: 0,
      timeout: 0,
    });
    p = next;
  }
  return { ok: true, msg: { version: 0, syncid: id, conns, skipped: 0 } };
}
