// Ethernet II with up to two VLAN tags (802.1Q, and 802.1ad QinQ outside it).
import { type MacLike, toMac, readU16, writeU16, toBytes } from './input.js';
import { type DecodeResult, ok, fail } from './result.js';

export const ETH_ALEN = 6;
export const ETH_HLEN = 14;
export const VLAN_HLEN = 4;
/** Minimum frame length without FCS; shorter frames are padded on the wire. */
export const ETH_ZLEN = 60;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;

export const BROADCAST_MAC: Uint8Array = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

export interface VlanTag {
  /** 12-bit VLAN identifier. */
  id: number;
  /** Priority code point, 0..7. */
  pcp?: number;
  dei?: boolean;
  /** Tag protocol identifier; default 0x8100, or 0x88a8 for the outer tag of two. */
  tpid?: number;
}

/** One tag (a VLAN id or a tag), or [outer, inner] for QinQ. */
export type VlanSpec = number | VlanTag | ReadonlyArray<number | VlanTag>;

export interface EthernetHeader {
  /** Views into the frame, not copies. */
  dst: Uint8Array;
  src: Uint8Array;
  /** The ethertype after any VLAN tags (the L3 protocol). */
  ethertype: number;
  /** Outermost VLAN id, if tagged. */
  vlanId?: number;
  /** Priority of the outermost tag, if tagged. */
  pcp?: number;
  /** Second VLAN id for QinQ. */
  innerVlanId?: number;
  /** Offset in the buffer where the L3 header starts. */
  l3Offset: number;
}

export type EthernetInvalid = 'truncated' | 'too-many-tags';

function isTpid(t: number): boolean {
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ;
}

export function decodeEthernet(
  buf: Uint8Array, off = 0, len = buf.length - off,
): DecodeResult<EthernetHeader, EthernetInvalid> {
  if (len < ETH_HLEN) return fail('truncated');
  const end = off + len;
  let p = off + 12;
  let ethertype = readU16(buf, p);
  const hdr: EthernetHeader = {
    dst: buf.subarray(off, off + 6),
    src: buf.subarray(off + 6, off + 12),
    ethertype,
    l3Offset: 0,
  };
  let tags = 0;
  while (isTpid(ethertype)) {
    // Two tags are what 802.1ad defines; more is not something a director sees.
    if (tags === 2) return fail('too-many-tags');
    if (p + 6 > end) return fail('truncated');
    const tci = readU16(buf, p + 2);
    if (tags === 0) {
      hdr.vlanId = tci & 0x0fff;
      hdr.pcp = tci >>> 13;
    } else {
      hdr.innerVlanId = tci & 0x0fff;
    }
    tags++;
    p += 4;
    ethertype = readU16(buf, p);
  }
  hdr.ethertype = ethertype;
  hdr.l3Offset = p + 2;
  return ok(hdr);
}

function normalizeTags(vlan: VlanSpec | undefined): VlanTag[] {
  if (vlan === undefined) return [];
  const list = Array.isArray(vlan) ? (vlan as ReadonlyArray<number | VlanTag>) : [vlan as number | VlanTag];
  if (list.length > 2) throw new RangeError(`at most two VLAN tags, got ${list.length}`);
  return list.map((t, i) => {
    const tag: VlanTag = typeof t === 'number' ? { id: t } : t;
    if (!Number.isInteger(tag.id) || tag.id < 0 || tag.id > 0xfff) throw new RangeError(`VLAN id must be 0..4095, got ${tag.id}`);
    const pcp = tag.pcp ?? 0;
    if (!Number.isInteger(pcp) || pcp < 0 || pcp > 7) throw new RangeError(`VLAN pcp must be 0..7, got ${pcp}`);
    const tpid = tag.tpid ?? (list.length === 2 && i === 0 ? ETHERTYPE_QINQ : ETHERTYPE_VLAN);
    return { id: tag.id, pcp, dei: tag.dei ?? false, tpid };
  });
}

export function ethernetHeaderLen(vlan?: VlanSpec): number {
  return ETH_HLEN + VLAN_HLEN * normalizeTags(vlan).length;
}

export interface EthernetFields {
  dst: MacLike;
  src: MacLike;
  ethertype: number;
  vlan?: VlanSpec;
}

/** Writes the header at `off`; returns the L3 offset. */
export function writeEthernet(buf: Uint8Array, off: number, f: EthernetFields): number {
  buf.set(toMac(f.dst), off);
  buf.set(toMac(f.src), off + 6);
  let p = off + 12;
  for (const t of normalizeTags(f.vlan)) {
    writeU16(buf, p, t.tpid!);
    writeU16(buf, p + 2, (t.pcp! << 13) | (t.dei ? 0x1000 : 0) | t.id);
    p += 4;
  }
  writeU16(buf, p, f.ethertype);
  return p + 2;
}

export function buildEthernet(f: EthernetFields & { payload?: Uint8Array | string; padToMin?: boolean }): Uint8Array {
  const payload = toBytes(f.payload);
  const hlen = ethernetHeaderLen(f.vlan);
  const len = Math.max(hlen + payload.length, f.padToMin ? ETH_ZLEN : 0);
  const buf = new Uint8Array(len);
  const l3 = writeEthernet(buf, 0, f);
  buf.set(payload, l3);
  return buf;
}
