// Decoders report malformed input as a value, not an exception: the data plane
// counts drops by reason and must not pay for a throw per bad packet.

export type DecodeResult<T, R extends string> =
  | { ok: true; value: T }
  | { ok: false; reason: R };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function fail<R extends string>(reason: R): { ok: false; reason: R } {
  return { ok: false, reason };
}
