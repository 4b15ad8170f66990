// SYN shedding: keep established connections moving through a SYN flood.
//
// IPVS's defences (drop_entry, secure_tcp: src/ipvs/defense.ts) keep the
// connection table from filling; a forwarder in user space has a second
// limit, its CPU. A flood of SYNs from random sources offered faster than
// lvsd can forward fills the RX ring, and the kernel then drops frames at the
// ring without looking at them: the packets of established connections wait
// behind hundreds of thousands of SYNs or are lost with them. The cure is to
// drop early and cheap what costs the most and is worth the least under
// attack: pure SYNs, in the socket's BPF filter (bpf.ts synGate), before they
// take a ring slot. A SYN the filter drops is a lost SYN for its client,
// which retransmits; an established connection loses nothing.
//
// This is the controller, pure and synchronous: fed the ring's counters
// every tick, it says which share of pure SYNs to let through.
//  - Capacity: on a tick where lvsd was behind (the ring dropped frames, or
//    more than half its slots wait), what it walked is what it can walk; an
//    average of those is its capacity. A backlog alone is not "behind": lvsd
//    descheduled for a few ms by other work on its core leaves thousands of
//    frames waiting without being overloaded, and shedding then would only
//    refuse new clients.
//  - Behind, with new connections a real share of the load (a flood of
//    established traffic or UDP is not helped by turning SYNs away): the
//    share drops at once to what fits HEADROOM of the capacity beside the
//    other traffic, and at least halves.
//  - Behind for another reason: a lowered share doubles back.
//  - Caught up for CALM_TICKS ticks: the share grows by half while the
//    capacity says it fits, and by a quarter every PROBE_TICKS calm ticks
//    anyway (the capacity may have been measured while the CPU was busy
//    with something else); up to all SYNs, when the gate is removed.
// One tick of overload is enough to react; the share then holds where
// established traffic keeps moving instead of swinging in and out of
// overload as a plain halve-and-grow would.

/** Cumulative counters, as read at one tick (all rings of lvsd's sockets summed). */
export interface ShedSample {
  /** Frames that reached the rings, dropped ones included (PACKET_STATISTICS tp_packets). */
  packets: number;
  /** Frames the kernel dropped because every block was full (tp_drops). */
  drops: number;
  /** Frames lvsd has walked. */
  walked: number;
  /** Connections the engine created (each from a SYN, without sloppy TCP). */
  created: number;
  /** Frames the rings hold when full (absent: only ring drops say "behind"). */
  ringFrames?: number;
}

export interface ShedDecision {
  /** The share of pure SYNs to let through, (0, 1]. */
  accept: number;
  /** Why it changed, for the log. */
  reason: string;
}

export const MIN_ACCEPT = 1 / 256;
/** Ticks in a row without falling behind before the share grows. */
export const CALM_TICKS = 3;
/** Calm ticks after which the share grows even where the capacity says it would not fit. */
export const PROBE_TICKS = 4 * CALM_TICKS;
/** A backlog above this that grows from one tick to the next means the ring is filling. */
export const FILLING = 1024;
/** The share of lvsd's capacity the load may take while shedding. */
export const HEADROOM = 0.8;

/** New connections must be at least this share of the frames walked for SYNs to be the problem. */
export const MIN_NEW_SHARE = 0.05;

export class SynShed {
  /** Current share of pure SYNs let through. */
  accept = 1;
  /** Ticks spent with the gate on (accept < 1), for counters. */
  shedTicks = 0;
  private last: ShedSample | undefined;
  private lastNow = 0;
  private calm = 0;
  private lastBacklog = 0;

  /** Frames per ms lvsd walks when it is behind: its capacity (0 until measured). */
  capacity = 0;

  /** One tick: the counters now; returns a decision when the share changes. */
  update(s: ShedSample, now: number): ShedDecision | undefined {
    const prev = this.last;
    const dt = now - this.lastNow;
    this.last = { ...s };
    this.lastNow = now;
    if (this.accept < 1) this.shedTicks++;
    if (!prev || dt <= 0) return undefined;
    const dropped = s.drops - prev.drops;
    const walked = s.walked - prev.walked;
    const created = s.created - prev.created;
    const arrived = s.packets - prev.packets;
    const backlog = (s.packets - s.drops) - s.walked;
    const rate = walked / dt; // frames per ms
    const behind = dropped > 0 || backlog > (s.ringFrames ?? Infinity) / 2;
    if (behind) this.lastBacklog = backlog;
    if (behind && walked > 0) this.capacity = this.capacity ? 0.7 * this.capacity + 0.3 * rate : rate;
    // The gate hides the SYNs it drops: each one let through stands for 1/accept of them.
    const syns = created / this.accept;
    const other = Math.max(0, arrived - created);
    // The share of SYNs that fits HEADROOM of the capacity beside everything else.
    const fits = this.capacity > 0 && syns > 0 ? (HEADROOM * this.capacity * dt - other) / syns : 1;
    if (behind) {
      this.calm = 0;
      // Only SYNs are turned away: worth it when new connections are a real part of the load.
      const synDriven = syns >= (walked + syns - created) * MIN_NEW_SHARE;
      if (synDriven) {
        if (this.accept <= MIN_ACCEPT) return undefined;
        this.accept = Math.max(MIN_ACCEPT, Math.min(this.accept / 2, fits));
        return { accept: this.accept, reason: `behind (${dropped} dropped at the ring, ${backlog} waiting, ${created} new connections of ${walked} frames)` };
      }
      // Behind, but not because of SYNs (a UDP or established-traffic
      // overload): turning SYNs away would only refuse new clients.
      if (this.accept >= 1) return undefined;
      this.accept = Math.min(1, this.accept * 2);
      return { accept: this.accept, reason: this.accept >= 1 ? 'the overload is not new connections: every SYN let through again' : 'the overload is not new connections' };
    }
    if (this.accept >= 1) return undefined;
    // Not behind yet, but the ring is filling (a probe overshot): not calm either.
    const filling = backlog > FILLING && backlog > this.lastBacklog;
    this.lastBacklog = backlog;
    if (filling) { this.calm = 0; return undefined; }
    this.calm++;
    let next = this.accept;
    if (this.calm % CALM_TICKS === 0 && fits >= this.accept * 1.5) next = this.accept * 1.5;
    else if (this.calm % PROBE_TICKS === 0) next = this.accept * 1.25;
    if (next === this.accept) return undefined;
    this.accept = Math.min(1, next);
    return { accept: this.accept, reason: this.accept >= 1 ? 'caught up: every SYN let through again' : 'caught up' };
  }
}
