// The nfnetlink messages lvsd's fwmark path writes and reads (see
// src/io/nfqueue.ts): NFQUEUE's config, verdicts and packets
// (<linux/netfilter/nfnetlink_queue.h>, net/netfilter/nfnetlink_queue.c),
// and one nftables rule (<linux/netfilter/nf_tables.h>) whose target is
// xtables' NFQUEUE through nft_compat: a kernel without nft's own `queue`
// expression (CONFIG_NFT_QUEUE, absent on this project's machines) still
// runs it, and the nft CLI cannot write an xt target, so lvsd does.
//
// Byte order: netlink headers and attribute headers are host order (x86-64:
// little-endian, the only machines lvsd runs on); nfgenmsg.res_id and the
// attributes marked __be below are big-endian; xtables' target info is host order.

export const NETLINK_NETFILTER = 12;
export const NLMSG_HDRLEN = 16;
export const NFGEN_HDRLEN = 4;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

export const NFNL_SUBSYS_QUEUE = 3;
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;

export const NFQNL_MSG_PACKET = 0;
export const NFQNL_MSG_VERDICT = 1;
export const NFQNL_MSG_CONFIG = 2;
export const NFQNL_MSG_VERDICT_BATCH = 3;

export const NFQA_PACKET_HDR = 1;
export const NFQA_VERDICT_HDR = 2;
export const NFQA_MARK = 3;
export const NFQA_IFINDEX_INDEV = 5;
export const NFQA_HWADDR = 9;
export const NFQA_PAYLOAD = 10;
export const NFQA_CAP_LEN = 13;

export const NFQA_CFG_CMD = 1;
export const NFQA_CFG_PARAMS = 2;
export const NFQA_CFG_QUEUE_MAXLEN = 3;
export const NFQA_CFG_MASK = 4;
export const NFQA_CFG_FLAGS = 5;
export const NFQNL_CFG_CMD_BIND = 1;
export const NFQNL_COPY_PACKET = 2;
export const NFQA_CFG_F_FAIL_OPEN = 1 << 0;
export const NFQA_CFG_F_GSO = 1 << 2;

export const NF_DROP = 0;
export const NF_ACCEPT = 1;

/** The kernel's queue numbers are u16. */
export const NFQ_MAX_QUEUE = 0xffff;

const AF_UNSPEC = 0;
const NFPROTO_IPV4 = 2;

/** Appends netlink messages to one growing buffer. */
export class NlWriter {
  private u8 = new Uint8Array(256);
  private dv = new DataView(this.u8.buffer);
  private pos = 0;
  private msg = -1;
  private nests: number[] = [];

  private room(n: number): void {
    if (this.pos + n <= this.u8.length) return;
    const b = new Uint8Array(Math.max(this.u8.length * 2, this.pos + n));
    b.set(this.u8);
    this.u8 = b;
    this.dv = new DataView(b.buffer);
  }

  /** nlmsghdr + nfgenmsg; res_id goes big-endian. */
  begin(type: number, flags: number, seq: number, family: number, resId: number): this {
    this.room(NLMSG_HDRLEN + NFGEN_HDRLEN);
    this.msg = this.pos;
    const dv = this.dv;
    dv.setUint32(this.pos, 0, true);
    dv.setUint16(this.pos + 4, type, true);
    dv.setUint16(this.pos + 6, flags, true);
    dv.setUint32(this.pos + 8, seq >>> 0, true);
    dv.setUint32(this.pos + 12, 0, true);
    this.u8[this.pos + 16] = family;
    this.u8[this.pos + 17] = 0; // NFNETLINK_V0
    dv.setUint16(this.pos + 18, resId, false);
    this.pos += NLMSG_HDRLEN + NFGEN_HDRLEN;
    return this;
  }

  /** One attribute with `data` as its payload, padded to 4 bytes. */
  attr(type: number, data: Uint8Array): this {
    const len = 4 + data.length;
    this.room(align4(len));
    this.dv.setUint16(this.pos, len, true);
    this.dv.setUint16(this.pos + 2, type, true);
    this.u8.set(data, this.pos + 4);
    this.u8.fill(0, this.pos + len, this.pos + align4(len));
    this.pos += align4(len);
    return this;
  }

  be32(type: number, v: number): this { return this.attr(type, be32(v)); }

  /** A NUL-terminated string (NLA_STRING / NLA_NUL_STRING). */
  str(type: number, s: string): this { return this.attr(type, new TextEncoder().encode(`${s}\0`)); }

  nest(type: number): this {
    this.room(4);
    this.nests.push(this.pos);
    this.dv.setUint16(this.pos + 2, type | NLA_F_NESTED, true);
    this.pos += 4;
    return this;
  }

  endNest(): this {
    const at = this.nests.pop();
    if (at === undefined) throw new Error('NlWriter: endNest without nest');
    this.dv.setUint16(at, this.pos - at, true);
    return this;
  }

  end(): this {
    if (this.msg < 0 || this.nests.length) throw new Error('NlWriter: end without begin, or an open nest');
    this.dv.setUint32(this.msg, this.pos - this.msg, true);
    this.msg = -1;
    return this;
  }

  bytes(): Uint8Array { return this.u8.slice(0, this.pos); }
}

function align4(n: number): number { return (n + 3) & ~3; }

function be32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, false);
  return b;
}

function queueType(msg: number): number { return (NFNL_SUBSYS_QUEUE << 8) | msg; }

export interface NfqConfig {
  queueNum: number;
  seq: number;
  /** Bytes of each packet to copy (NFQNL_COPY_PACKET). Default 0xffff: whole IPv4 packets. */
  copyRange?: number;
  /** Packets the kernel holds for us before it drops (queue_maxlen; kernel default 1024). */
  maxLen?: number;
}

/**
 * NFQNL_MSG_CONFIG, acknowledged: bind `queueNum` to this socket, copy whole
 * packets, set the queue's length, and clear FAIL_OPEN (a full queue drops:
 * a packet the stack got instead would be answered with a RST) and GSO (the
 * kernel segments super-packets and completes their checksums before
 * queueing, so every queued packet is one the TX ring can send as it is).
 */
export function nfqConfigMessage(c: NfqConfig): Uint8Array {
  const w = new NlWriter().begin(queueType(NFQNL_MSG_CONFIG), NLM_F_REQUEST | NLM_F_ACK, c.seq, AF_UNSPEC, c.queueNum);
  w.attr(NFQA_CFG_CMD, new Uint8Array([NFQNL_CFG_CMD_BIND, 0, 0, 0])); // command, pad, pf (unused by BIND)
  const params = new Uint8Array(5);
  new DataView(params.buffer).setUint32(0, c.copyRange ?? 0xffff, false);
  params[4] = NFQNL_COPY_PACKET;
  w.attr(NFQA_CFG_PARAMS, params);
  if (c.maxLen !== undefined) w.be32(NFQA_CFG_QUEUE_MAXLEN, c.maxLen);
  w.be32(NFQA_CFG_MASK, NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO);
  w.be32(NFQA_CFG_FLAGS, 0);
  return w.end().bytes();
}

/** Bytes of one verdict message (either kind). */
export const NFQ_VERDICT_LEN = NLMSG_HDRLEN + NFGEN_HDRLEN + 4 + 8;

/**
 * NFQNL_MSG_VERDICT (one packet) or, with `batch`, NFQNL_MSG_VERDICT_BATCH
 * (every packet still queued whose id is not after `id`), written at `off`;
 * returns NFQ_VERDICT_LEN. Not acknowledged: an error comes back as NLMSG_ERROR.
 */
export function writeNfqVerdict(dv: DataView, off: number, queueNum: number, seq: number, id: number, verdict: number, batch: boolean): number {
  dv.setUint32(off, NFQ_VERDICT_LEN, true);
  dv.setUint16(off + 4, queueType(batch ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT), true);
  dv.setUint16(off + 6, NLM_F_REQUEST, true);
  dv.setUint32(off + 8, seq >>> 0, true);
  dv.setUint32(off + 12, 0, true);
  dv.setUint8(off + 16, AF_UNSPEC);
  dv.setUint8(off + 17, 0);
  dv.setUint16(off + 18, queueNum, false);
  dv.setUint16(off + 20, 12, true);
  dv.setUint16(off + 22, NFQA_VERDICT_HDR, true);
  dv.setUint32(off + 24, verdict >>> 0, false);
  dv.setUint32(off + 28, id >>> 0, false);
  return NFQ_VERDICT_LEN;
}

/** What parseNfqMessage found. */
export const NFQ_MSG_PACKET = 0;
export const NFQ_MSG_ERROR = 1;
export const NFQ_MSG_OTHER = 2;
export const NFQ_MSG_MALFORMED = 3;

/** One queued packet (reused: parseNfqMessage fills it). */
export interface NfqPacket {
  id: number;
  mark: number;
  indev: number;
  /** Offset and length of the L3 packet (NFQA_PAYLOAD) in the buffer; len -1: none. */
  payloadOff: number;
  payloadLen: number;
  /** The packet's length before copy_range cut it (NFQA_CAP_LEN, only sent when cut); else payloadLen. */
  wireLen: number;
  /** For NFQ_MSG_ERROR: the errno (positive) and the seq it answers. */
  errno: number;
  errSeq: number;
}

export function newNfqPacket(): NfqPacket {
  return { id: 0, mark: 0, indev: 0, payloadOff: 0, payloadLen: -1, wireLen: 0, errno: 0, errSeq: 0 };
}

/**
 * One netlink message at buf[off, off+len) (as recvmmsg left it) into `p`.
 * A packet message without NFQA_PACKET_HDR is malformed: without its id no
 * verdict can be given.
 */
export function parseNfqMessage(dv: DataView, off: number, len: number, p: NfqPacket): number {
  if (len < NLMSG_HDRLEN) return NFQ_MSG_MALFORMED;
  const mlen = dv.getUint32(off, true);
  if (mlen < NLMSG_HDRLEN || mlen > len) return NFQ_MSG_MALFORMED;
  const type = dv.getUint16(off + 4, true);
  if (type === NLMSG_ERROR) {
    if (mlen < NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) return NFQ_MSG_MALFORMED;
    p.errno = -dv.getInt32(off + 16, true);
    p.errSeq = dv.getUint32(off + 20 + 8, true);
    return NFQ_MSG_ERROR;
  }
  if (type !== queueType(NFQNL_MSG_PACKET)) return NFQ_MSG_OTHER;
  if (mlen < NLMSG_HDRLEN + NFGEN_HDRLEN) return NFQ_MSG_MALFORMED;
  p.id = 0; p.mark = 0; p.indev = 0; p.payloadLen = -1; p.payloadOff = 0; p.wireLen = -1;
  let haveId = false;
  const end = off + mlen;
  let a = off + NLMSG_HDRLEN + NFGEN_HDRLEN;
  while (a + 4 <= end) {
    const alen = dv.getUint16(a, true);
    if (alen < 4 || a + alen > end) return NFQ_MSG_MALFORMED;
    const atype = dv.getUint16(a + 2, true) & NLA_TYPE_MASK;
    const d = a + 4;
    const dlen = alen - 4;
    switch (atype) {
      case NFQA_PACKET_HDR:
        if (dlen < 7) return NFQ_MSG_MALFORMED;
        p.id = dv.getUint32(d, false);
        haveId = true;
        break;
      case NFQA_MARK:
        if (dlen < 4) return NFQ_MSG_MALFORMED;
        p.mark = dv.getUint32(d, false);
        break;
      case NFQA_IFINDEX_INDEV:
        if (dlen < 4) return NFQ_MSG_MALFORMED;
        p.indev = dv.getUint32(d, false);
        break;
      case NFQA_PAYLOAD:
        p.payloadOff = d;
        p.payloadLen = dlen;
        break;
      case NFQA_CAP_LEN:
        if (dlen < 4) return NFQ_MSG_MALFORMED;
        p.wireLen = dv.getUint32(d, false);
        break;
      default:
        break;
    }
    a += align4(alen);
  }
  if (!haveId) return NFQ_MSG_MALFORMED;
  if (p.wireLen < 0) p.wireLen = p.payloadLen;
  return NFQ_MSG_PACKET;
}

// <linux/netfilter/nf_tables.h>
const NFT_MSG_NEWRULE = 6;
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_EXPRESSIONS = 4;
const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFT_REG_1 = 1;
const NFTA_META_DREG = 1;
const NFTA_META_KEY = 2;
const NFT_META_MARK = 3;
const NFTA_LOOKUP_SET = 1;
const NFTA_LOOKUP_SREG = 2;
const NFTA_FIB_DREG = 1;
const NFTA_FIB_RESULT = 2;
const NFTA_FIB_FLAGS = 3;
const NFT_FIB_RESULT_ADDRTYPE = 3;
const NFTA_FIB_F_DADDR = 1 << 1;
const NFTA_FIB_F_MARK = 1 << 2;
const NFTA_CMP_SREG = 1;
const NFTA_CMP_OP = 2;
const NFTA_CMP_DATA = 3;
const NFT_CMP_EQ = 0;
const NFTA_DATA_VALUE = 1;
const NFTA_TARGET_NAME = 1;
const NFTA_TARGET_REV = 2;
const NFTA_TARGET_INFO = 3;
const RTN_LOCAL = 2;

export interface NftQueueRule {
  /** nftables table of family ip. */
  table: string;
  chain: string;
  /** A set of type mark in that table. */
  set: string;
  queueNum: number;
  /** seq of the NEWRULE message (the one acknowledged); the batch markers take seq - 1 and seq + 1. */
  seq: number;
}

/**
 * One nfnetlink batch that appends to `chain` the rule
 *   meta mark @set fib daddr . mark type local counter xt target NFQUEUE --queue-num Q
 * i.e. a packet carrying a fwmark service's mark and routed to this host
 * (IPVS sees packets at LOCAL_IN; the lookup honours mark-based policy
 * routing, as routing does) is queued to lvsd. No --queue-bypass: while no
 * one reads the queue its packets are dropped (fail closed), as the addr
 * services' netdev drops keep dropping after a crash.
 */
export function nftQueueRuleBatch(r: NftQueueRule): Uint8Array {
  if (!Number.isInteger(r.queueNum) || r.queueNum < 0 || r.queueNum > NFQ_MAX_QUEUE) throw new RangeError(`queue number must be 0..65535, got ${r.queueNum}`);
  const subsys = NFNL_SUBSYS_NFTABLES;
  const w = new NlWriter();
  w.begin(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, r.seq - 1, AF_UNSPEC, subsys).end();
  w.begin((subsys << 8) | NFT_MSG_NEWRULE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, r.seq, NFPROTO_IPV4, 0);
  w.str(NFTA_RULE_TABLE, r.table).str(NFTA_RULE_CHAIN, r.chain).nest(NFTA_RULE_EXPRESSIONS);
  const expr = (name: string, data: (w: NlWriter) => void) => {
    w.nest(NFTA_LIST_ELEM).str(NFTA_EXPR_NAME, name).nest(NFTA_EXPR_DATA);
    data(w);
    w.endNest().endNest();
  };
  expr('meta', (x) => x.be32(NFTA_META_DREG, NFT_REG_1).be32(NFTA_META_KEY, NFT_META_MARK));
  expr('lookup', (x) => x.str(NFTA_LOOKUP_SET, r.set).be32(NFTA_LOOKUP_SREG, NFT_REG_1));
  expr('fib', (x) => x.be32(NFTA_FIB_DREG, NFT_REG_1).be32(NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE).be32(NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR | NFTA_FIB_F_MARK));
  expr('cmp', (x) => {
    x.be32(NFTA_CMP_SREG, NFT_REG_1).be32(NFTA_CMP_OP, NFT_CMP_EQ).nest(NFTA_CMP_DATA);
    // fib's address type is a host-order u32 in the register.
    const v = new Uint8Array(4);
    new DataView(v.buffer).setUint32(0, RTN_LOCAL, true);
    x.attr(NFTA_DATA_VALUE, v).endNest();
  });
  expr('counter', () => undefined);
  expr('target', (x) => {
    // struct xt_NFQ_info_v3 {u16 queuenum, queues_total, flags} (host order), XT_ALIGNed to 8.
    const info = new Uint8Array(8);
    const dv = new DataView(info.buffer);
    dv.setUint16(0, r.queueNum, true);
    dv.setUint16(2, 1, true);
    dv.setUint16(4, 0, true); // no NFQ_FLAG_BYPASS
    x.str(NFTA_TARGET_NAME, 'NFQUEUE').be32(NFTA_TARGET_REV, 3).attr(NFTA_TARGET_INFO, info);
  });
  w.endNest().end();
  w.begin(NFNL_MSG_BATCH_END, NLM_F_REQUEST, r.seq + 1, AF_UNSPEC, subsys).end();
  return w.bytes();
}
