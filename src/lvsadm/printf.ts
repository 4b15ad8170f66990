// The few printf conversions ipvsadm's listings use, so formatters read like
// the C format strings they reproduce.

/** %-Ns */
export function left(s: string | number, width: number): string {
  const t = String(s);
  return t.length >= width ? t : t + ' '.repeat(width - t.length);
}

/** %Ns */
export function right(s: string | number, width: number): string {
  const t = String(s);
  return t.length >= width ? t : ' '.repeat(width - t.length) + t;
}

/** %u / %llu of a counter: a non-negative integer, never exponent notation. */
export function u(n: number | bigint): string {
  if (typeof n === 'bigint') return (n < 0n ? 0n : n).toString();
  if (!Number.isFinite(n) || n <= 0) return '0';
  return BigInt(Math.floor(n)).toString();
}

/** %d of a u32 (fwmark): wraps to a negative int above 2^31 - 1. */
export function d32(n: number): string {
  return String(n | 0);
}

/** %02d */
export function zero2(n: number): string {
  const s = String(n);
  return s.length >= 2 ? s : '0' + s;
}
