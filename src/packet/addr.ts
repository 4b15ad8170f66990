// IPv4 and MAC address conversions. The engine keeps IPv4 addresses as u32
// in host order (a >>> 0 number); strings appear only at the edges.

export function ipToU32(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${ip}`);
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) throw new RangeError(`not an IPv4 address: ${ip}`);
    const n = Number(p);
    if (n > 255) throw new RangeError(`not an IPv4 address: ${ip}`);
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function isIpv4(ip: string): boolean {
  try { ipToU32(ip); return true; } catch { return false; }
}

export function u32ToIp(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Read / write a u32 IPv4 address in network order. */
export function readIp(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}
export function writeIp(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24; buf[off + 1] = (v >>> 16) & 255; buf[off + 2] = (v >>> 8) & 255; buf[off + 3] = v & 255;
}

/** Netmask from dotted quad; throws on a non-contiguous mask. */
export function maskToPrefix(mask: string): number {
  const m = ipToU32(mask);
  const inv = (~m) >>> 0;
  if ((inv & (inv + 1)) !== 0) throw new RangeError(`not a contiguous netmask: ${mask}`);
  return 32 - Math.log2(inv + 1);
}
export function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new RangeError(`not a MAC address: ${mac}`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function macToString(buf: Uint8Array, off = 0): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push(buf[off + i]!.toString(16).padStart(2, '0'));
  return out.join(':');
}
