// The fwmark path. IPVS matches a fwmark service by skb->mark, which the
// user's MARK rules set in prerouting; a packet socket copies frames before
// that and never sees a mark. So lvsd's nftables (src/io/intercept.ts)
// queues marked packets routed to this host to NFQUEUE queue `queueNum`,
// and this reads them: one recvmmsg per batch into the addon's buffer
// (native/src/nfqueue.cc), each packet parsed in place
// (src/packet/nfnetlink.ts), handed with its mark to the engine through a
// Forwarder's inject() (so DR, NAT and TUN go out through the same TX rings
// as everything else), then one sendto of verdicts per batch: NF_DROP for
// what lvsd forwarded or dropped (one VERDICT_BATCH covers them all),
// NF_ACCEPT for what the engine says is not its business (e.g. a ping of a
// marked address), so the stack answers it as it would without lvsd.
//
// Choices:
// - Fail closed. The rule has no --queue-bypass and the queue no FAIL_OPEN:
//   while lvsd is not reading (crashed, restarting) or cannot keep up, a
//   marked packet is dropped, not delivered to the director's stack, which
//   would answer a SYN with RST and kill a live flow with RST that a quick
//   restart (with sync, or sloppy TCP and mh) could have kept. The addr
//   services' netdev drops behave the same after a crash.
// - No NFQA_CFG_F_GSO: the kernel segments super-packets and completes
//   their checksums before queueing (it knows the MSS; the queue message
//   does not carry it), so every queued packet fits a TX slot as it is.
// - Counted: kernel-side drops (queue full, socket buffer full) from
//   /proc/net/netfilter/nfnetlink_queue, ours here.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { loadAddon } from './native.js';
import {
  NFQ_MSG_ERROR, NFQ_MSG_MALFORMED, NFQ_MSG_PACKET, NFQ_VERDICT_LEN, NF_ACCEPT, NF_DROP,
  newNfqPacket, nfqConfigMessage, parseNfqMessage, writeNfqVerdict,
} from '../packet/nfnetlink.js';
import { VERDICT_IGNORE } from '../ipvs/engine.js';
import type { FrameSource } from './forwarder.js';

export interface NfqSocketOptions {
  /** Messages per recvmmsg (default 64). */
  slots?: number;
  /** Bytes per slot (default 65536 + 1024: any IPv4 packet with its message). */
  slotSize?: number;
  /** Free bytes in front of each message (default 128). */
  headroom?: number;
  /** Bytes for one batch's verdicts (default 64 KiB). */
  sendSize?: number;
  /** SO_RCVBUF(FORCE) (default 16 MiB: QUEUE_MAXLEN messages of small packets, which each cost ~1 KiB of buffer). */
  rcvbuf?: number;
}

export interface NativeNfqSocket {
  readonly buffer: ArrayBuffer;
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;
  readonly sendOffset: number;
  readonly sendSize: number;
  readonly lensOffset: number;
  readonly portid: number;
  transact(messages: Uint8Array, timeoutMs?: number): [number, number][];
  recv(): number;
  send(len: number): number;
  start(cb: (err?: Error) => void): void;
  stop(): void;
  close(): void;
}

/** Where queued packets go: a Forwarder (inject + kickDirty). */
export interface QueueSink {
  inject(src: FrameSource, off: number, len: number, now: number, mark: number): number;
  kickDirty(): void;
}

/** The queue number for an lvsd instance: away from 0, which NFQUEUE consumers (suricata, snort, examples) take. */
export const DEFAULT_FWMARK_QUEUE = 47000;

/** A second lvsd in one namespace (socket suffix, see lvsd/daemon.ts) gets a queue of its own. */
export function queueNumFor(suffix: string | undefined): number {
  if (!suffix) return DEFAULT_FWMARK_QUEUE;
  let h = 0;
  for (let i = 0; i < suffix.length; i++) h = (Math.imul(h, 31) + suffix.charCodeAt(i)) >>> 0;
  return DEFAULT_FWMARK_QUEUE + 1 + (h % 1000);
}

/** Recv batches per readiness event: the rest waits for the next one (level-triggered), so timers and control still run. */
const MAX_ROUNDS = 16;
/**
 * The kernel's queue_maxlen (its default is 1024): a burst of this many
 * packets waits for us before drops start. About what the RX rings hold of
 * small frames; 4096 lost packets in bench:fwmark whenever the loaded
 * machine kept lvsd off the CPU for a moment (~150 ms at 26k pps).
 */
const QUEUE_MAXLEN = 16384;
const MSG_TRUNC = 0x20;
const ETH_HLEN = 14;

export class NfqCounters {
  /** Packet messages received. */
  packets = 0;
  batches = 0;
  /** Verdicts given: NF_DROP (forwarded by lvsd, or dropped by the engine) and NF_ACCEPT (not the engine's: the stack takes it). */
  verdictDrop = 0;
  verdictAccept = 0;
  /** Packets whose copy was cut (copy_range or a too small slot): dropped, never forwarded cut. */
  truncated = 0;
  /** Packets without a mark (the rule only queues marked ones): handed back. */
  noMark = 0;
  /** Messages that could not be parsed. */
  malformed = 0;
  /** NLMSG_ERROR answers to our verdicts, and the last errno. */
  netlinkErrors = 0;
  lastNetlinkErrno = 0;
  /** recv reported ENOBUFS: the socket buffer overflowed and the kernel dropped packets (also in kernel userDropped). */
  enobufs = 0;
  recvErrors = 0;
  sendErrors = 0;
  /** Exceptions in this loop (a bug): the batch's packets are dropped by the next batch verdict. */
  faults = 0;
}

export interface NfqKernelStats {
  /** Packets waiting for a verdict now. */
  queueTotal: number;
  /** Dropped because the queue held queue_maxlen packets. */
  queueDropped: number;
  /** Dropped because our socket's buffer was full. */
  userDropped: number;
  /** Packets ever queued (the last id). */
  idSequence: number;
}

/** One line of /proc/net/netfilter/nfnetlink_queue (per network namespace), or undefined. */
export function parseProcQueue(text: string, queueNum: number): NfqKernelStats | undefined {
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length >= 8 && f[0] === queueNum) return { queueTotal: f[2]!, queueDropped: f[5]!, userDropped: f[6]!, idSequence: f[7]! };
  }
  return undefined;
}

const ERRNO_NAME = new Map(Object.entries(constants.errno).map(([k, v]) => [v, k]));

export class FwmarkQueue {
  readonly counters = new NfqCounters();
  private sock: NativeNfqSocket | undefined;
  private u8 = new Uint8Array(0);
  private dv = new DataView(new ArrayBuffer(0));
  private lens = new Uint32Array(0);
  private src: FrameSource = { u8: this.u8, bytes: Buffer.alloc(0) };
  private readonly pkt = newNfqPacket();
  private seq = 1;

  constructor(
    readonly queueNum: number,
    private readonly sink: QueueSink,
    private readonly opts: { now?: () => number; onFault?: (err: unknown) => void; socket?: NfqSocketOptions } = {},
  ) {
    if (!Number.isInteger(queueNum) || queueNum < 0 || queueNum > 0xffff) throw new RangeError(`NFQUEUE queue number must be 0..65535, got ${queueNum}`);
  }

  get isOpen(): boolean { return this.sock !== undefined; }

  /** Opens the socket and binds the queue; throws with what to do when it cannot (EBUSY: the number is taken). */
  open(): void {
    if (this.sock) return;
    const s = new (loadAddon().NfqSocket)(this.opts.socket ?? {});
    try {
      const seq = this.seq++;
      const r = s.transact(nfqConfigMessage({ queueNum: this.queueNum, seq, maxLen: QUEUE_MAXLEN }), 2000);
      const e = r.find(([q]) => q === seq)?.[1] ?? constants.errno.ETIMEDOUT;
      if (e !== 0) {
        const name = ERRNO_NAME.get(e) ?? `errno ${e}`;
        const hint = e === constants.errno.EBUSY
          ? 'another process has bound it (another lvsd in this namespace, or an NFQUEUE consumer): start lvsd with --fwmark-queue N'
          : 'the kernel needs nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE) for fwmark services';
        throw new Error(`binding NFQUEUE queue ${this.queueNum} failed: ${name}; ${hint}`);
      }
    } catch (err) {
      s.close();
      throw err;
    }
    this.sock = s;
    this.u8 = new Uint8Array(s.buffer);
    this.dv = new DataView(s.buffer);
    this.lens = new Uint32Array(s.buffer, s.lensOffset, s.slots * 2);
    this.src = { u8: this.u8, bytes: Buffer.from(s.buffer) };
  }

  start(): void {
    const s = this.sock;
    if (!s) throw new Error('FwmarkQueue.start before open');
    s.start((err) => {
      if (err) { this.counters.recvErrors++; return; }
      this.drain();
    });
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
  }

  /** The kernel's own counters for this queue (undefined before the bind or where /proc is not mounted). */
  kernelStats(): NfqKernelStats | undefined {
    try {
      return parseProcQueue(readFileSync('/proc/net/netfilter/nfnetlink_queue', 'utf8'), this.queueNum);
    } catch {
      return undefined;
    }
  }

  /** Reads and answers what is waiting; returns packets handled. */
  drain(): number {
    const s = this.sock;
    if (!s) return 0;
    const c = this.counters;
    const now = (this.opts.now ?? performance.now.bind(performance))();
    let total = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const n = s.recv();
      if (n < 0) {
        if (n === -constants.errno.ENOBUFS) { c.enobufs++; continue; }
        if (n !== -constants.errno.EAGAIN) c.recvErrors++;
        break;
      }
      if (n === 0) break;
      c.batches++;
      try {
        total += this.batch(s, n, now);
      } catch (err) {
        c.faults++;
        this.opts.onFault?.(err);
      }
      if (n < s.slots) break;
    }
    return total;
  }

  private batch(s: NativeNfqSocket, n: number, now: number): number {
    const c = this.counters;
    const u8 = this.u8;
    const dv = this.dv;
    const lens = this.lens;
    const p = this.pkt;
    const sendOff = s.sendOffset;
    const room = s.sendSize - NFQ_VERDICT_LEN;
    let w = 0;
    let dropUpTo = -1;
    let packets = 0;
    for (let i = 0; i < n; i++) {
      const off = i * s.slotSize + s.headroom;
      const len = lens[2 * i]!;
      const cut = (lens[2 * i + 1]! & MSG_TRUNC) !== 0;
      const k = parseNfqMessage(dv, off, cut ? Math.min(len, s.slotSize - s.headroom) : len, p);
      if (k === NFQ_MSG_ERROR) {
        if (p.errno !== 0) { c.netlinkErrors++; c.lastNetlinkErrno = p.errno; }
        continue;
      }
      if (k === NFQ_MSG_MALFORMED) { c.malformed++; continue; }
      if (k !== NFQ_MSG_PACKET) continue;
      packets++;
      c.packets++;
      let verdict = NF_DROP;
      if (cut || p.payloadLen < 20 || p.wireLen > p.payloadLen) {
        c.truncated++;
      } else if (p.mark === 0) {
        c.noMark++;
        verdict = NF_ACCEPT;
      } else {
        // The engine takes Ethernet frames: an IPv4 ethertype in front is all it reads of one.
        const fo = p.payloadOff - ETH_HLEN;
        u8[fo + 12] = 0x08;
        u8[fo + 13] = 0x00;
        if (this.sink.inject(this.src, fo, p.payloadLen + ETH_HLEN, now, p.mark) === VERDICT_IGNORE) verdict = NF_ACCEPT;
      }
      if (verdict === NF_ACCEPT && w < room) {
        w += writeNfqVerdict(dv, sendOff + w, this.queueNum, this.seq++, p.id, NF_ACCEPT, false);
        c.verdictAccept++;
      } else {
        // Ids grow within a queue: the last one covers every earlier drop.
        dropUpTo = p.id;
        c.verdictDrop++;
      }
    }
    this.sink.kickDirty();
    // The accepts go first: the batch verdict then applies to the drops only.
    if (dropUpTo >= 0) w += writeNfqVerdict(dv, sendOff + w, this.queueNum, this.seq++, dropUpTo, NF_DROP, true);
    if (w > 0 && s.send(w) < 0) c.sendErrors++;
    return packets;
  }
}
