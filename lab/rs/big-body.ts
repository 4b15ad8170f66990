// The body of the real servers' /big?size=N (lab/rs/httpd.mjs fillBody),
// for checking a download's integrity by hash.
import { createHash } from 'node:crypto';

/** sha256 (hex) of the first `size` bytes /big serves. */
export function bigBodySha256(size: number): string {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 2654435761) >>> 24;
  return createHash('sha256').update(b).digest('hex');
}
