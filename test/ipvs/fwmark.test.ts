// fwmark services in the engine: what IPVS does with skb->mark (ip_vs_ctl.c
// ip_vs_service_find, ip_vs_core.c ip_vs_sched_persist / ip_vs_schedule),
// with the mark the io layer's NFQUEUE path hands input().
import { describe, expect, it } from 'vitest';
import { HEADROOM, VERDICT_DROP, VERDICT_IGNORE, VERDICT_XMIT, type IpvsEngine, type XmitOut } from '../../src/ipvs/engine.js';
import { ipToU32 } from '../../src/packet/addr.js';
import type { ServiceKey } from '../../src/ipvs/types.js';
import { CLIENT, VIP, dest, engine, send, svc, tcp, tcpKey, udp } from './helpers.js';
import { IP_VS_CONN_F_TEMPLATE, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_NOOUTPUT, IP_VS_CONN_F_DROUTE, newSyncConn } from '../../src/sync/message.js';

const A = '192.168.1.10';
const B = '192.168.1.11';
const FWM: ServiceKey = { kind: 'fwmark', fwmark: 1 };

function sendMarked(e: IpvsEngine, frame: Uint8Array, mark: number, now = 0): { verdict: number; pkt?: Uint8Array; nextHop?: number } {
  const buf = new Uint8Array(HEADROOM + frame.length);
  buf.set(frame, HEADROOM);
  const out: XmitOut = { buf, start: 0, len: 0, nextHop: 0 };
  const verdict = e.input(buf, HEADROOM, frame.length, now, out, false, mark);
  if (verdict !== VERDICT_XMIT) return { verdict };
  return { verdict, pkt: out.buf.slice(out.start, out.start + out.len), nextHop: out.nextHop };
}

/** fwmark 1, rr, two dests, optionally persistent; forwarding method `fwd`. */
function fwmEngine(o: { persistence?: number; fwd?: 'route' | 'masq'; port?: number } = {}): IpvsEngine {
  const e = engine();
  e.addService(svc(FWM, { persistence: o.persistence ?? 0 }));
  e.addDest(FWM, dest(A, o.port ?? 0, { fwd: o.fwd ?? 'route' }));
  e.addDest(FWM, dest(B, o.port ?? 0, { fwd: o.fwd ?? 'route' }));
  e.tick(0);
  return e;
}

const dport = (pkt: Uint8Array) => (pkt[22]! << 8) | pkt[23]!;
const daddr = (pkt: Uint8Array) => ((pkt[16]! << 24) | (pkt[17]! << 16) | (pkt[18]! << 8) | pkt[19]!) >>> 0;

describe('fwmark services', () => {
  it('a packet without the mark is not scheduled to a fwmark service; with it, it is', () => {
    const e = fwmEngine();
    expect(send(e, tcp({ flags: 'S', dstPort: 80 })).verdict).toBe(VERDICT_IGNORE);
    expect(e.counters().ignore_not_service).toBe(1);
    const r = sendMarked(e, tcp({ flags: 'S', dstPort: 80 }), 1);
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(r.nextHop).toBe(ipToU32(A));
    // Another mark: no service of its own, no addr service either.
    expect(sendMarked(e, tcp({ flags: 'S', dstPort: 80, srcPort: 2000 }), 2).verdict).toBe(VERDICT_IGNORE);
  });

  it('the destination need not be any addr service\'s VIP: the MARK rule chose the packet', () => {
    const e = fwmEngine();
    const r = sendMarked(e, tcp({ flags: 'S', dst: '10.9.9.9', dstPort: 443 }), 1);
    expect(r.verdict).toBe(VERDICT_XMIT);
    // DR leaves the packet alone.
    expect(daddr(r.pkt!)).toBe(ipToU32('10.9.9.9'));
    const c = e.listConns(0).find((x) => !x.template)!;
    expect(c).toMatchObject({ protocol: 'tcp', vaddr: '10.9.9.9', vport: 443, daddr: A, dport: 443, fwmark: 1 });
  });

  it('a marked packet prefers the fwmark service over an addr service on its VIP:port (ip_vs_service_find)', () => {
    const e = fwmEngine();
    e.addService(svc(tcpKey(80)));
    e.addDest(tcpKey(80), dest('192.168.1.99', 80));
    expect(sendMarked(e, tcp({ flags: 'S', dstPort: 80 }), 1).nextHop).toBe(ipToU32(A));
    expect(send(e, tcp({ flags: 'S', dstPort: 80, srcPort: 2000 })).nextHop).toBe(ipToU32('192.168.1.99'));
  });

  it('persistence spans the group: one template <IP, caddr, 0, mark, 0> for every port and protocol', () => {
    const e = fwmEngine({ persistence: 300 });
    const a = sendMarked(e, tcp({ flags: 'S', dstPort: 80, srcPort: 1000 }), 1);
    const b = sendMarked(e, tcp({ flags: 'S', dstPort: 8080, srcPort: 1001 }), 1);
    const u = sendMarked(e, udp({ dstPort: 53, srcPort: 1002 }), 1);
    expect([a.nextHop, b.nextHop, u.nextHop]).toEqual([ipToU32(A), ipToU32(A), ipToU32(A)]);
    // A second client is scheduled afresh (rr): the other dest, and it sticks too.
    const c = sendMarked(e, tcp({ flags: 'S', src: '10.0.0.2', dstPort: 8080 }), 1);
    const d = sendMarked(e, tcp({ flags: 'S', src: '10.0.0.2', dstPort: 80 }), 1);
    expect([c.nextHop, d.nextHop]).toEqual([ipToU32(B), ipToU32(B)]);
    const tpl = e.listConns(0).filter((x) => x.template);
    expect(tpl).toHaveLength(2);
    expect(tpl[0]).toMatchObject({ protocol: 'ip', caddr: CLIENT, cport: 0, vaddr: '0.0.0.1', vport: 0, daddr: A, dport: 0, state: 'NONE' });
    // Conns keep the real VIP:vport (what -Lnc shows) and the client's port.
    const conns = e.listConns(0).filter((x) => !x.template && x.caddr === CLIENT);
    expect(conns.map((x) => [x.protocol, x.vaddr, x.vport, x.dport])).toEqual(
      expect.arrayContaining([['tcp', VIP, 80, 80], ['tcp', VIP, 8080, 8080], ['udp', VIP, 53, 53]]));
    expect(e.listServices()[0]!.dests.map((x) => x.persistConns)).toEqual([1, 1]);
  });

  it('-M groups clients of a fwmark service by network', () => {
    const e = engine();
    e.addService(svc(FWM, { persistence: 60, netmask: '255.255.255.0' }));
    e.addDest(FWM, dest(A, 0));
    e.addDest(FWM, dest(B, 0));
    expect(sendMarked(e, tcp({ flags: 'S', src: '10.0.0.1', dstPort: 80 }), 1).nextHop).toBe(ipToU32(A));
    expect(sendMarked(e, tcp({ flags: 'S', src: '10.0.0.77', dstPort: 8080 }), 1).nextHop).toBe(ipToU32(A));
    expect(e.listConns(0).filter((x) => x.template).map((x) => x.caddr)).toEqual(['10.0.0.0']);
  });

  it('NAT: a persistent fwmark service forwards to the client\'s port; a non-persistent one to the dest\'s', () => {
    const p = fwmEngine({ persistence: 300, fwd: 'masq', port: 8000 });
    expect(dport(sendMarked(p, tcp({ flags: 'S', dstPort: 8080 }), 1).pkt!)).toBe(8080);
    const n = fwmEngine({ fwd: 'masq', port: 8000 });
    expect(dport(sendMarked(n, tcp({ flags: 'S', dstPort: 8080 }), 1).pkt!)).toBe(8000);
    // Port-less dests: the client's port either way.
    const z = fwmEngine({ fwd: 'masq' });
    const r = sendMarked(z, tcp({ flags: 'S', dstPort: 8080 }), 1);
    expect([daddr(r.pkt!), dport(r.pkt!)]).toEqual([ipToU32(A), 8080]);
    // The reply comes unmarked through the packet socket, by its tuple: SNAT back to VIP:8080.
    const back = send(z, tcp({ src: A, dst: CLIENT, srcPort: 8080, dstPort: 40000, flags: 'SA' }));
    expect(back.verdict).toBe(VERDICT_XMIT);
    expect(((back.pkt![20]! << 8) | back.pkt![21]!)).toBe(8080);
    expect(daddr(back.pkt!)).toBe(ipToU32(CLIENT));
  });

  it('later packets of a fwmark conn go by the conn; a packet socket\'s unmarked copy is not forwarded again', () => {
    const e = fwmEngine();
    sendMarked(e, tcp({ flags: 'S', dstPort: 80 }), 1);
    const est = sendMarked(e, tcp({ flags: 'A', dstPort: 80 }), 1);
    expect(est.verdict).toBe(VERDICT_XMIT);
    expect(est.nextHop).toBe(ipToU32(A));
    // The same packet as an accept-all packet socket would see it (VIP is an addr VIP too here).
    e.addService(svc(tcpKey(443)));
    expect(send(e, tcp({ flags: 'A', dstPort: 80 })).verdict).toBe(VERDICT_IGNORE);
    expect(e.counters().ignore_fwmark_unmarked).toBe(1);
    expect(e.counters().frames).toBe(e.counters().xmit + sumOf(e, 'drop_') + sumOf(e, 'ignore_'));
  });

  it('a marked packet that is malformed is dropped and counted, not handed back', () => {
    const e = fwmEngine();
    const f = tcp({ flags: 'S', dst: '10.9.9.9', dstPort: 80 });
    f[14 + 20 + 12] = 0x20; // data offset 8 bytes
    expect(sendMarked(e, f, 1).verdict).toBe(VERDICT_DROP);
    expect(e.counters().drop_bad_tcp_doff).toBe(1);
    // Not a SYN and no conn: dropped, as for addr services.
    expect(sendMarked(e, tcp({ flags: 'A', dst: '10.9.9.9', dstPort: 80 }), 1).verdict).toBe(VERDICT_DROP);
  });

  it('sync: a fwmark template (protocol IP, vaddr = mark) and its conn are taken by a backup', () => {
    const e = fwmEngine({ persistence: 300 });
    const tpl = { ...newSyncConn(), protocol: 0, caddr: ipToU32(CLIENT), cport: 0, vaddr: 1, vport: 0, daddr: ipToU32(B), dport: 0,
      fwmark: 1, timeout: 300, flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_NOOUTPUT | IP_VS_CONN_F_DROUTE };
    expect(e.syncConn(tpl, 0)).toBe('created');
    const conn = { ...newSyncConn(), protocol: 6, caddr: ipToU32(CLIENT), cport: 1000, vaddr: ipToU32(VIP), vport: 8080, daddr: ipToU32(B), dport: 8080,
      fwmark: 1, state: 1, timeout: 900, flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT };
    expect(e.syncConn(conn, 0)).toBe('created');
    // The synced template decides for this client's next port.
    expect(sendMarked(e, tcp({ flags: 'S', dstPort: 80, srcPort: 1001 }), 1).nextHop).toBe(ipToU32(B));
    // The synced conn is a fwmark conn: forwarded from the queue only.
    expect(sendMarked(e, tcp({ flags: 'A', dstPort: 8080, srcPort: 1000 }), 1).nextHop).toBe(ipToU32(B));
  });

  it('--trace of a fwmark service answers from the client\'s template, or the scheduler when it can tell', () => {
    const e = fwmEngine({ persistence: 300 });
    expect(e.trace(FWM, ipToU32(CLIENT), 0, 0).reason).toMatch(/cannot predict/);
    sendMarked(e, tcp({ flags: 'S', dstPort: 8080 }), 1);
    expect(e.trace(FWM, ipToU32(CLIENT), 0, 0)).toMatchObject({ dest: { addr: A }, reason: expect.stringMatching(/persistence template/) });
    const sh = engine();
    sh.addService(svc(FWM, { scheduler: 'sh' }));
    sh.addDest(FWM, dest(A, 0));
    expect(sh.trace(FWM, ipToU32(CLIENT), 0, 0)).toMatchObject({ dest: { addr: A }, reason: 'new connection: scheduled by sh' });
  });
});

function sumOf(e: IpvsEngine, prefix: string): number {
  return Object.entries(e.counters()).filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
}
