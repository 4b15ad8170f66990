// One interface for every scheduler (ip_vs_sched.c's struct ip_vs_scheduler).
// A scheduler sees the service's dests through SchedDest and picks one for a
// new connection; the engine owns the dests and their counters.

/** IP_VS_DEST_F_AVAILABLE / IP_VS_DEST_F_OVERLOAD as the kernel keeps them. */
export const DEST_F_AVAILABLE = 1;
export const DEST_F_OVERLOAD = 2;

/** What a scheduler may read of a real server. */
export interface SchedDest {
  /** Stable index of this dest within the service (for table-based schedulers). */
  readonly id: number;
  /** IPv4 address as u32 (host order), or an IPv6 one's fold (the kernel's addr_fold), and port, for hashing and ordering. */
  readonly addr: number;
  readonly port: number;
  /** IPv6 dests: a key unique per address and port (folds of different addresses may be equal). */
  readonly key6?: string;
  readonly weight: number;
  readonly activeConns: number;
  readonly inactConns: number;
  readonly persistConns: number;
  /** DEST_F_* bits. Overloaded dests (threshold reached) must be skipped. */
  readonly flags: number;
  /** Upper threshold (0 = none), used by ovf. */
  readonly uThreshold: number;
}

/**
 * The flow being scheduled; addresses u32 host order. For an IPv6 flow
 * (af 6), saddr and daddr hold the kernel's fold of each address (what
 * ip_vs_sh/dh/mh_hashkey hash) and daddr6 the whole destination address
 * (lblc and lblcr remember destinations by address).
 */
export interface SchedFlow {
  saddr: number;
  sport: number;
  daddr: number;
  af?: number;
  daddr6?: Uint32Array;
  dport: number;
  protocol: number;
  /** Monotonic milliseconds, passed in (lblc/lblcr expire their tables by it). */
  now: number;
}

export interface SchedFlags {
  fallback: boolean; // sh-fallback / mh-fallback
  port: boolean;     // sh-port / mh-port
}

export interface Scheduler {
  readonly name: string;
  /**
   * Called when the dest list changes (add, edit, delete, weight change) and
   * once at start; table-based schedulers (sh, dh, mh, wrr) rebuild here.
   */
  update(dests: readonly SchedDest[], flags: SchedFlags): void;
  /** Pick a dest for a new connection, or null (no dest available → IPVS drops/RSTs). */
  schedule(dests: readonly SchedDest[], flow: SchedFlow): SchedDest | null;
}
