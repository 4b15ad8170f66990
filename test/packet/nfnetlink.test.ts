// The nfnetlink messages of the fwmark path (src/packet/nfnetlink.ts), judged
// by tshark's netlink-netfilter dissector: what lvsd writes (queue config,
// verdicts) and what it reads (queued packets, built here and decoded by
// tshark and by parseNfqMessage, which must agree). The nftables rule has no
// tshark dissector; the lab test has nft itself print it back
// (test/lab/forward-fwmark.test.ts), and the kernel accept it.
import { describe, expect, it } from 'vitest';
import {
  NFQ_MSG_ERROR, NFQ_MSG_MALFORMED, NFQ_MSG_OTHER, NFQ_MSG_PACKET, NFQ_VERDICT_LEN, NF_ACCEPT, NF_DROP, NLM_F_REQUEST,
  NFNL_SUBSYS_QUEUE, NFQA_CAP_LEN, NFQA_HWADDR, NFQA_IFINDEX_INDEV, NFQA_MARK, NFQA_PACKET_HDR, NFQA_PAYLOAD, NFQNL_MSG_PACKET,
  NlWriter, newNfqPacket, nfqConfigMessage, nftQueueRuleBatch, parseNfqMessage, writeNfqVerdict,
} from '../../src/packet/nfnetlink.js';
import { buildTcpFrame } from './build/frame.js';
import { LINKTYPE_NETLINK } from './build/pcap.js';
import { complaints, dissect, findTshark } from './tshark.js';

const tshark = findTshark();
if (!tshark && process.env.CI === 'true') throw new Error('tshark is missing (scripts/setup.sh installs it)');

/** The cooked header an nlmon capture puts in front of each message: ARPHRD_NETLINK, family NETLINK_NETFILTER. */
function cooked(msg: Uint8Array): Uint8Array {
  const b = new Uint8Array(16 + msg.length);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, 4, false); // "sent by us"
  dv.setUint16(2, 824, false);
  dv.setUint16(14, 12, false);
  b.set(msg, 16);
  return b;
}

function verdict(queue: number, id: number, v: number, batch: boolean): Uint8Array {
  const b = new Uint8Array(NFQ_VERDICT_LEN);
  expect(writeNfqVerdict(new DataView(b.buffer), 0, queue, 9, id, v, batch)).toBe(NFQ_VERDICT_LEN);
  return b;
}

/** A packet message as the kernel sends one (nfqnl_build_packet_message's attribute order). */
function packetMessage(o: { id: number; mark?: number; indev?: number; payload: Uint8Array; capLen?: number }): Uint8Array {
  const w = new NlWriter().begin((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET, 0, 0, 2, 47000);
  const hdr = new Uint8Array(7);
  const dv = new DataView(hdr.buffer);
  dv.setUint32(0, o.id, false);
  dv.setUint16(4, 0x0800, false);
  hdr[6] = 0; // NF_INET_PRE_ROUTING
  w.attr(NFQA_PACKET_HDR, hdr);
  if (o.indev !== undefined) w.be32(NFQA_IFINDEX_INDEV, o.indev);
  if (o.mark !== undefined) w.be32(NFQA_MARK, o.mark);
  w.attr(NFQA_HWADDR, new Uint8Array([0, 6, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0]));
  if (o.capLen !== undefined) w.be32(NFQA_CAP_LEN, o.capLen);
  w.attr(NFQA_PAYLOAD, o.payload);
  return w.end().bytes();
}

const ipPacket = buildTcpFrame({ src: '10.0.0.1', dst: '10.0.0.100', srcPort: 40000, dstPort: 8080, flags: 'S' }).subarray(14);

describe('nfnetlink messages', () => {
  it.skipIf(!tshark)('tshark reads the queue config as a bind of queue N, whole packets, queue length, no fail-open', () => {
    const [p] = dissect([cooked(nfqConfigMessage({ queueNum: 47000, seq: 5, maxLen: 4096 }))], {}, tshark, LINKTYPE_NETLINK);
    expect(complaints(p!)).toEqual([]);
    expect(p!.get('netlink-netfilter.queue.config.command.command')).toBe('1');
    expect(p!.get('netlink-netfilter.queue.config.params.copy_range')).toBe('0x0000ffff');
    expect(p!.get('netlink-netfilter.queue.config.params.copy_mode')).toBe('2');
    expect(p!.text).toMatch(/Resource id: 47000/);
    expect(p!.text).toMatch(/Sequence: 5/);
    // FAIL_OPEN and GSO both in the mask, neither in the flags.
    // tshark 4.0 reads queue_maxlen, mask and flags in host order; the kernel
    // reads all three big-endian (ntohl in nfqnl_recv_config), as written here.
    expect(['0x00000005', '0x05000000']).toContain(p!.get('netlink-netfilter.queue.config.mask'));
    expect(p!.get('netlink-netfilter.queue.config.flags')).toBe('0x00000000');
    const raw = Buffer.from(nfqConfigMessage({ queueNum: 47000, seq: 5, maxLen: 4096 }));
    expect(raw.includes(Buffer.from([8, 0, 3, 0, 0, 0, 0x10, 0]))).toBe(true);
    expect(raw.includes(Buffer.from([8, 0, 4, 0, 0, 0, 0, 5]))).toBe(true);
  });

  it.skipIf(!tshark)('tshark reads a verdict and a batch verdict with their ids', () => {
    const [a, b] = dissect([cooked(verdict(47000, 41, NF_ACCEPT, false)), cooked(verdict(47000, 1234567, NF_DROP, true))], {}, tshark, LINKTYPE_NETLINK);
    for (const p of [a!, b!]) expect(complaints(p)).toEqual([]);
    expect(a!.get('netlink-netfilter.queue.verdict.verdict')).toBe('1');
    expect(a!.get('netlink-netfilter.queue.verdict.id')).toBe('41');
    expect(a!.text).toMatch(/Type: Verdict \(1\)/);
    // tshark 4.0 names the batch type but does not decode its attribute, which
    // has the single verdict's layout: the same message with type 1 must read as NF_DROP, id 1234567.
    expect(b!.text).toMatch(/Type: Verdict \(batch\) \(3\)/);
    const asSingle = verdict(47000, 1234567, NF_DROP, true);
    new DataView(asSingle.buffer).setUint16(4, (NFNL_SUBSYS_QUEUE << 8) | 1, true);
    const [c] = dissect([cooked(asSingle)], {}, tshark, LINKTYPE_NETLINK);
    expect(c!.get('netlink-netfilter.queue.verdict.verdict')).toBe('0');
    expect(c!.get('netlink-netfilter.queue.verdict.id')).toBe('1234567');
    expect(new DataView(verdict(1, 1, 1, false).buffer).getUint16(6, true)).toBe(NLM_F_REQUEST);
  });

  it.skipIf(!tshark)('a queued packet: parseNfqMessage agrees with tshark on id, mark, in-device and payload', () => {
    const msg = packetMessage({ id: 77, mark: 0x10001, indev: 3, payload: ipPacket });
    const [t] = dissect([cooked(msg)], {}, tshark, LINKTYPE_NETLINK);
    expect(complaints(t!)).toEqual([]);
    const p = newNfqPacket();
    expect(parseNfqMessage(new DataView(msg.buffer), 0, msg.length, p)).toBe(NFQ_MSG_PACKET);
    expect(String(p.id)).toBe(t!.get('netlink-netfilter.queue.packet.id'));
    expect(String(p.mark)).toBe(t!.get('netlink-netfilter.queue.nfmark'));
    expect(String(p.indev)).toBe(t!.get('netlink-netfilter.queue.ifindex_indev'));
    expect(t!.get('ip.dst')).toBe('10.0.0.100');
    expect(t!.get('tcp.dstport')).toBe('8080');
    expect(msg.subarray(p.payloadOff, p.payloadOff + p.payloadLen)).toEqual(ipPacket);
    expect(p.wireLen).toBe(p.payloadLen);
  });

  it('parseNfqMessage: a cut copy shows in wireLen; no mark reads 0; errors, other messages and malformed ones are told apart', () => {
    const p = newNfqPacket();
    const cut = packetMessage({ id: 1, payload: ipPacket.subarray(0, 30), capLen: ipPacket.length });
    expect(parseNfqMessage(new DataView(cut.buffer), 0, cut.length, p)).toBe(NFQ_MSG_PACKET);
    expect([p.mark, p.payloadLen, p.wireLen]).toEqual([0, 30, ipPacket.length]);
    // An attribute running past the message.
    const bad = packetMessage({ id: 2, mark: 1, payload: ipPacket });
    new DataView(bad.buffer).setUint16(20, 200, true);
    expect(parseNfqMessage(new DataView(bad.buffer), 0, bad.length, p)).toBe(NFQ_MSG_MALFORMED);
    // No packet header: no id to give a verdict for.
    const noHdr = new NlWriter().begin((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET, 0, 0, 2, 1).be32(NFQA_MARK, 1).end().bytes();
    expect(parseNfqMessage(new DataView(noHdr.buffer), 0, noHdr.length, p)).toBe(NFQ_MSG_MALFORMED);
    // Shorter than its header says.
    expect(parseNfqMessage(new DataView(bad.buffer), 0, 10, p)).toBe(NFQ_MSG_MALFORMED);
    // NLMSG_ERROR (EINVAL) answering seq 9.
    const err = new Uint8Array(36);
    const dv = new DataView(err.buffer);
    dv.setUint32(0, 36, true); dv.setUint16(4, 2, true); dv.setInt32(16, -22, true); dv.setUint32(28, 9, true);
    expect(parseNfqMessage(dv, 0, 36, p)).toBe(NFQ_MSG_ERROR);
    expect([p.errno, p.errSeq]).toEqual([22, 9]);
    const cfg = nfqConfigMessage({ queueNum: 1, seq: 1 });
    expect(parseNfqMessage(new DataView(cfg.buffer), 0, cfg.length, p)).toBe(NFQ_MSG_OTHER);
  });

  it('the nftables rule: one batch (begin, NEWRULE with ACK, end) naming table, chain, set and the queue number', () => {
    const b = nftQueueRuleBatch({ table: 'lvsd_x', chain: 'fwmark', set: 'fwmarks', queueNum: 47001, seq: 20 });
    const dv = new DataView(b.buffer);
    const msgs: { type: number; flags: number; seq: number; len: number }[] = [];
    for (let o = 0; o < b.length;) {
      const len = dv.getUint32(o, true);
      msgs.push({ type: dv.getUint16(o + 4, true), flags: dv.getUint16(o + 6, true), seq: dv.getUint32(o + 8, true), len });
      o += (len + 3) & ~3;
    }
    expect(msgs.map((m) => [m.type, m.seq])).toEqual([[0x10, 19], [0x0a06, 20], [0x11, 21]]);
    expect(msgs[1]!.flags).toBe(0x1 | 0x4 | 0x400 | 0x800);
    const text = Buffer.from(b).toString('latin1');
    for (const s of ['lvsd_x\0', 'fwmark\0', 'fwmarks\0', 'meta\0', 'lookup\0', 'fib\0', 'cmp\0', 'counter\0', 'target\0', 'NFQUEUE\0']) expect(text).toContain(s);
    // xt_NFQ_info_v3 in host order: queuenum 47001, queues_total 1, flags 0 (no bypass).
    expect(Buffer.from(b).includes(Buffer.from([0xc, 0, 3, 0, 0x99, 0xb7, 1, 0, 0, 0, 0, 0]))).toBe(true);
    expect(() => nftQueueRuleBatch({ table: 't', chain: 'c', set: 's', queueNum: 70000, seq: 1 })).toThrow(/0\.\.65535/);
  });
});
