// Shared fixtures for the engine tests: specs with ipvsadm's defaults and a
// way to push a built frame through input() with the headroom the io layer
// guarantees.
import { HEADROOM, IpvsEngine, VERDICT_XMIT, type EngineOptions, type XmitOut } from '../../src/ipvs/engine.js';
import type { DestSpec, ServiceKey, ServiceSpec } from '../../src/ipvs/types.js';
import { buildTcpFrame, buildUdpFrame, type TcpFrameOptions, type UdpFrameOptions } from '../packet/build/frame.js';

export const VIP = '10.0.0.100';
export const CLIENT = '10.0.0.1';

export function tcpKey(port = 80, addr = VIP): ServiceKey {
  return { kind: 'addr', protocol: 'tcp', addr, port };
}
export function udpKey(port = 53, addr = VIP): ServiceKey {
  return { kind: 'addr', protocol: 'udp', addr, port };
}

export function svc(key: ServiceKey, o: Partial<ServiceSpec> = {}): ServiceSpec {
  return { key, scheduler: 'rr', persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [], ...o };
}

export function dest(addr: string, port: number, o: Partial<DestSpec> = {}): DestSpec {
  return { addr, port, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0, ...o };
}

export function engine(o: EngineOptions = {}): IpvsEngine {
  return new IpvsEngine({ maxConns: 4096, rng: mulberry(1), ...o });
}

/** Deterministic uniform [0, 1). */
export function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Sent {
  verdict: number;
  /** The L3 packet the engine produced (copy), when XMIT. */
  pkt?: Uint8Array;
  nextHop?: number;
  out: XmitOut;
}

export function send(e: IpvsEngine, frame: Uint8Array, now = 0): Sent {
  const buf = new Uint8Array(HEADROOM + frame.length);
  buf.set(frame, HEADROOM);
  const out: XmitOut = { buf, start: 0, len: 0, nextHop: 0 };
  const verdict = e.input(buf, HEADROOM, frame.length, now, out);
  if (verdict !== VERDICT_XMIT) return { verdict, out };
  return { verdict, out, pkt: out.buf.slice(out.start, out.start + out.len), nextHop: out.nextHop };
}

/** An Ethernet frame around an L3 packet, to feed the engine's own output back in. */
export function ethWrap(pkt: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + pkt.length);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
  f.set(pkt, 14);
  return f;
}

export function tcp(o: TcpFrameOptions): Uint8Array {
  return buildTcpFrame(o);
}
export function udp(o: UdpFrameOptions): Uint8Array {
  return buildUdpFrame(o);
}
