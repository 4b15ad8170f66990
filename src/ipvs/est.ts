// The rate estimator of ip_vs_est.c. Every 2 s each counter's delta is
// scaled (<<9 for conns and packets: per second ×2^10 over a 2 s period;
// <<4 for bytes: per second ×2^5) and folded into an EWMA with weight 1/4:
//   avg += (rate - avg) >> 2
// ipvsadm reads back (avg + 0x1FF) >> 10 for cps/pps and (avg + 0xF) >> 5
// for bps (ip_vs_read_estimator). Arithmetic is s64 in the kernel; doubles
// hold these values exactly (deltas < 2^40 per period), and Math.floor
// reproduces the arithmetic right shift of a negative difference.

export const EST_PERIOD_MS = 2000;

/** Indexes into a 5-slot counter array, the order of ip_vs_kstats. */
export const S_CONNS = 0, S_INPKTS = 1, S_OUTPKTS = 2, S_INBYTES = 3, S_OUTBYTES = 4;

export class Estimator {
  /** Counter values at the previous period. */
  readonly last = new Float64Array(5);
  /** Scaled averages: cps, inpps, outpps (×2^10), inbps, outbps (×2^5). */
  readonly avg = new Float64Array(5);

  /** One 2-second period of estimation_timer() over `c` (conns, inpkts, outpkts, inbytes, outbytes). */
  estimate(c: Float64Array): void {
    for (let i = 0; i < 5; i++) {
      const shift = i < 3 ? 512 : 16; // << 9 or << 4
      const rate = (c[i]! - this.last[i]!) * shift;
      this.last[i] = c[i]!;
      this.avg[i] = this.avg[i]! + Math.floor((rate - this.avg[i]!) / 4);
    }
  }

  /** ip_vs_zero_estimator(): rates to zero, deltas from the current counters. */
  zero(c: Float64Array): void {
    for (let i = 0; i < 5; i++) { this.last[i] = c[i]!; this.avg[i] = 0; }
  }

  /** ip_vs_read_estimator(): per-second rates as ipvsadm shows them. */
  read(): { cps: number; inpps: number; outpps: number; inbps: number; outbps: number } {
    const a = this.avg;
    return {
      cps: Math.floor((a[0]! + 0x1ff) / 1024),
      inpps: Math.floor((a[1]! + 0x1ff) / 1024),
      outpps: Math.floor((a[2]! + 0x1ff) / 1024),
      inbps: Math.floor((a[3]! + 0xf) / 32),
      outbps: Math.floor((a[4]! + 0xf) / 32),
    };
  }
}
