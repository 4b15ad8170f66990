// What the instances track: vrrp_script results (rise/fall as keepalived
// counts them), interface link state, and the split-brain reference address.
// Each source reports a boolean; index.ts turns those into faults (weight 0)
// or priority deltas (weight ≠ 0) on the state machines.
import { describeOutcome, succeeded, type ScriptOutcome } from '../core/notify.js';
import { ifaceInfo, openRawIp, openRawIp6, type RawIpSocket, type RawIp6Socket } from '../io/native.js';
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST } from '../packet/icmpv6.js';
import { canonicalIpv6 } from '../packet/ipv6.js';
import { IPPROTO_ICMPV6 } from '../packet/addr6.js';
import { buildIcmpEcho, decodeIcmp, ICMP_ECHOREPLY } from '../packet/icmp.js';
import { decodeIpv4, IPPROTO_ICMP } from '../packet/ipv4.js';
import { u32ToIp } from '../packet/addr.js';

/**
 * keepalived's script result counter (vrrp_scheduler.c vrrp_script_child_thread):
 * `result` runs 0 … rise+fall-1; the script is OK while result >= rise.
 * Pure, so it is unit-tested without running anything.
 */
export class RiseFall {
  result: number;
  ok: boolean;
  private first = true;
  constructor(readonly rise: number, readonly fall: number, initFail: boolean) {
    this.ok = !initFail;
    this.result = initFail ? 0 : rise;
  }

  /** Feeds one run's outcome; returns true when `ok` changed. */
  feed(success: boolean): boolean {
    const before = this.ok;
    const top = this.rise + this.fall - 1;
    if (this.first) {
      // The first result decides at once (keepalived's SCRIPT_INIT_STATE_INIT).
      this.first = false;
      this.result = success ? top : 0;
      this.ok = success;
      return before !== this.ok;
    }
    if (success) {
      if (this.result < this.rise - 1) this.result++;
      else if (this.result !== top) {
        this.result = top;
        this.ok = true;
      }
    } else if (this.result > this.rise) {
      this.result--;
    } else {
      this.result = 0;
      this.ok = false;
    }
    return before !== this.ok;
  }
}

/** One track weight: contribution to priority of a tracked object in state `ok`. */
export function weightContribution(weight: number, reverse: boolean, ok: boolean): number {
  const good = reverse ? !ok : ok;
  if (weight > 0) return good ? weight : 0;
  if (weight < 0) return good ? 0 : weight;
  return 0;
}

export interface ScriptSpec {
  name: string;
  script: string;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  initFail: boolean;
}

/** Runs one script to its end; the daemon's is core/notify.ts's runScript as the script's user. */
export type ScriptExec = (script: string, timeoutMs: number) => Promise<ScriptOutcome>;

/** Runs one vrrp_script every interval (never two runs at once) and reports its OK state on change. */
export class VrrpScriptTracker {
  readonly state: RiseFall;
  private timer: NodeJS.Timeout | undefined;
  /** A run is under way (keepalived's "State = running"). */
  running = false;
  private stopped = false;
  runs = 0;
  constructor(readonly spec: ScriptSpec, private readonly exec: ScriptExec,
    private readonly onChange: (ok: boolean) => void, private readonly log: (msg: string) => void) {
    this.state = new RiseFall(spec.rise, spec.fall, spec.initFail);
  }

  start(): void {
    this.runOnce();
    this.timer = setInterval(() => this.runOnce(), this.spec.intervalMs);
  }

  private runOnce(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.runs++;
    void this.exec(this.spec.script, this.spec.timeoutMs).then((o) => {
      this.running = false;
      if (this.stopped) return;
      const success = succeeded(o);
      if (this.state.feed(success)) {
        this.log(`VRRP_Script(${this.spec.name}) ${success ? 'succeeded' : `failed (${describeOutcome(o)})`}`);
        this.onChange(this.state.ok);
      }
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }
}

/** Polls link state by ioctl (cheap) and reports up+carrier changes. */
export class LinkWatcher {
  private timer: NodeJS.Timeout | undefined;
  readonly up = new Map<string, boolean>();
  constructor(readonly ifnames: string[], private readonly onChange: (ifname: string, up: boolean) => void,
    readonly pollMs = 20) {
    for (const i of ifnames) this.up.set(i, LinkWatcher.isUp(i));
  }

  static isUp(ifname: string): boolean {
    try {
      const i = ifaceInfo(ifname);
      return i.up && i.running;
    } catch {
      return false;
    }
  }

  start(): void {
    this.timer = setInterval(() => {
      for (const i of this.ifnames) {
        const now = LinkWatcher.isUp(i);
        if (now !== this.up.get(i)) {
          this.up.set(i, now);
          this.onChange(i, now);
        }
      }
    }, this.pollMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/**
 * Split brain reference: ICMP echo (ICMPv6 echo for an IPv6 address) to each
 * reference address every `intervalMs`; reachable while some reply came
 * within `windowMs`.
 */
export class ReferenceProber {
  private sock: RawIpSocket | undefined;
  private sock6: RawIp6Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private lastReply = 0;
  private readonly id = process.pid & 0xffff;
  private startedAt = 0;
  private readonly v4: string[];
  /** IPv6 references, canonical (replies are matched by their source as the kernel writes it). */
  private readonly v6: string[];
  reachable = true;
  /** `ifname`: the scope of link-local IPv6 references (the instance's interface). */
  constructor(readonly addrs: string[], readonly intervalMs: number, readonly windowMs: number,
    private readonly onChange: (ok: boolean) => void, private readonly ifname?: string) {
    this.v4 = addrs.filter((a) => !a.includes(':'));
    this.v6 = addrs.filter((a) => a.includes(':')).map((a) => canonicalIpv6(a) ?? a);
  }

  start(): void {
    this.startedAt = Date.now();
    if (this.v4.length) {
      this.sock = openRawIp(IPPROTO_ICMP, { ttl: 64 });
      this.sock.onMessage((pkt) => {
        const ip = decodeIpv4(pkt, 0, pkt.length);
        if (!ip.ok || !this.v4.includes(u32ToIp(ip.value.src))) return;
        const ic = decodeIcmp(pkt, ip.value.payloadOffset, ip.value.payloadLength);
        if (ic.ok && ic.value.type === ICMP_ECHOREPLY && ic.value.id === this.id) this.lastReply = Date.now();
        this.evaluate();
      });
    }
    if (this.v6.length) {
      // The kernel fills in an ICMPv6 raw socket's checksum; it hands over every ICMPv6 message: keep echo replies to us.
      this.sock6 = openRawIp6(IPPROTO_ICMPV6, { hopLimit: 64, ...(this.ifname && this.v6.some((a) => /^fe[89ab]/i.test(a)) ? { ifname: this.ifname } : {}) });
      this.sock6.onMessage((payload, from) => {
        if (payload.length < 8 || payload[0] !== ICMPV6_ECHO_REPLY || ((payload[4]! << 8) | payload[5]!) !== this.id) return;
        if (!this.v6.includes(canonicalIpv6(from.replace(/%.*$/, '')) ?? from)) return;
        this.lastReply = Date.now();
        this.evaluate();
      });
    }
    this.probe();
    this.timer = setInterval(() => { this.probe(); this.evaluate(); }, this.intervalMs);
  }

  private probe(): void {
    this.seq = (this.seq + 1) & 0xffff;
    const msg = buildIcmpEcho({ id: this.id, seq: this.seq, payload: 'lvs-keepalived reference' });
    for (const a of this.v4) {
      try { this.sock?.send(a, msg); } catch { /* unreachable now: the window decides */ }
    }
    if (this.v6.length) {
      // The same echo with ICMPv6's request type (the checksum is the kernel's).
      const m6 = msg.slice();
      m6[0] = ICMPV6_ECHO_REQUEST; m6[1] = 0; m6[2] = 0; m6[3] = 0;
      for (const a of this.v6) {
        try { this.sock6?.send(a, m6); } catch { /* unreachable now */ }
      }
    }
  }

  private evaluate(): void {
    const now = Date.now();
    // Until the first window has passed, assume reachable: no verdict before we asked.
    const ok = now - this.startedAt < this.windowMs || now - this.lastReply <= this.windowMs;
    if (ok !== this.reachable) {
      this.reachable = ok;
      this.onChange(ok);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sock?.close();
    this.sock6?.close();
  }
}
