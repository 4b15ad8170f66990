// The engine's side of the fast path (src/io/fastpath.ts): which conns may
// bypass it, and what a sweep's packet counts do to a conn (stats, timer,
// sync) — as the same packets through input() would.
import { describe, expect, it } from 'vitest';
import { CLIENT, VIP, dest, engine, send, svc, tcp, tcpKey, udp, udpKey } from './helpers.js';
import { CLIENT6, VIP6, buildTcp6Frame } from '../packet/build/ipv6.js';

function director(minPkts = 0) {
  const e = engine();
  e.setFastMinPackets(minPkts);
  e.addService(svc(tcpKey(80)));
  e.addDest(tcpKey(80), dest('10.0.1.11', 80, { fwd: 'masq' }));
  e.addService(svc(udpKey(53)));
  e.addDest(udpKey(53), dest('10.0.1.12', 53, { fwd: 'route' }));
  e.addService(svc(tcpKey(443), { ops: false }));
  e.addDest(tcpKey(443), dest('10.0.1.13', 443, { fwd: 'tunnel' }));
  return e;
}

const ip = (a: string) => a.split('.').reduce((x, o) => (x << 8) + Number(o), 0) >>> 0;

describe('fast path, engine side', () => {
  it('TCP becomes eligible at ESTABLISHED and stops at FIN; UDP at once; IPv4 TUN too, IPv6 TUN never', () => {
    const e = director();
    send(e, tcp({ src: CLIENT, dst: VIP, srcPort: 40001, dstPort: 80, flags: 'S' }), 0);
    const i = e.lastConn;
    expect(i).toBeGreaterThanOrEqual(0);
    expect(e.fastEligible(i)).toBe(false);
    send(e, tcp({ src: CLIENT, dst: VIP, srcPort: 40001, dstPort: 80, flags: 'A' }), 0);
    expect(e.lastConn).toBe(i);
    expect(e.lastOut).toBe(false);
    expect(e.fastEligible(i)).toBe(true);
    // A NAT reply names the same conn, as a reply.
    send(e, tcp({ src: '10.0.1.11', dst: CLIENT, srcPort: 80, dstPort: 40001, flags: 'A' }), 0);
    expect([e.lastConn, e.lastOut]).toEqual([i, true]);
    send(e, tcp({ src: CLIENT, dst: VIP, srcPort: 40001, dstPort: 80, flags: 'FA' }), 0);
    expect(e.fastEligible(i)).toBe(false);

    send(e, udp({ src: CLIENT, dst: VIP, srcPort: 40002, dstPort: 53 }), 0);
    expect(e.fastEligible(e.lastConn)).toBe(true);
    send(e, tcp({ src: CLIENT, dst: VIP, srcPort: 40003, dstPort: 443, flags: 'S' }), 0);
    send(e, tcp({ src: CLIENT, dst: VIP, srcPort: 40003, dstPort: 443, flags: 'A' }), 0);
    expect(e.lastConn).toBeGreaterThanOrEqual(0);
    expect(e.fastEligible(e.lastConn)).toBe(true);
    e.addService(svc(tcpKey(443, VIP6)));
    e.addDest(tcpKey(443, VIP6), dest('2001:db8:1::13', 443, { fwd: 'tunnel' }));
    send(e, buildTcp6Frame({ src: CLIENT6, dst: VIP6, srcPort: 40004, dstPort: 443, flags: 'S' }), 0);
    const t6 = e.lastConn;
    send(e, buildTcp6Frame({ src: CLIENT6, dst: VIP6, srcPort: 40004, dstPort: 443, flags: 'A' }), 0);
    expect(t6).toBeGreaterThanOrEqual(0);
    expect(e.fastEligible(t6)).toBe(false);
    // A dropped packet names no conn.
    send(e, tcp({ src: CLIENT, dst: VIP, srcPort: 40009, dstPort: 80, flags: 'A' }), 0);
    expect(e.lastConn).toBe(-1);
  });

  it('IPv6 conns are eligible as IPv4 ones; a sweep names them by family and ports (-1 for the addresses)', () => {
    const e = director();
    e.addService(svc(tcpKey(80, VIP6)));
    e.addDest(tcpKey(80, VIP6), dest('2001:db8:1::11', 8080, { fwd: 'masq' }));
    send(e, buildTcp6Frame({ src: CLIENT6, dst: VIP6, srcPort: 40011, dstPort: 80, flags: 'S' }), 0);
    const i = e.lastConn;
    expect(i).toBeGreaterThanOrEqual(0);
    expect(e.fastEligible(i)).toBe(false);
    send(e, buildTcp6Frame({ src: CLIENT6, dst: VIP6, srcPort: 40011, dstPort: 80, flags: 'A' }), 0);
    expect(e.fastEligible(i)).toBe(true);
    const before = e.listServices(tcpKey(80, VIP6))[0]!.stats;
    expect(e.fastActivity(i, 6, -1, 40011, -1, 80, false, 3, 300, 1000)).toBe(true);
    expect(e.listServices(tcpKey(80, VIP6))[0]!.stats.inpkts - before.inpkts).toBe(3);
    expect(e.fastActivity(i, 6, ip(CLIENT), 40011, ip(VIP), 80, false, 1, 100, 1000), 'IPv4 addresses for an IPv6 conn').toBe(false);
    expect(e.fastActivity(i, 6, -1, 40012, -1, 80, false, 1, 100, 1000), 'another client port').toBe(false);
    expect(e.fastActivity(i, 17, -1, 40011, -1, 80, false, 1, 100, 1000), 'another protocol').toBe(false);
    // And an IPv4 conn refuses -1.
    send(e, udp({ src: CLIENT, dst: VIP, srcPort: 40013, dstPort: 53 }), 0);
    expect(e.fastActivity(e.lastConn, 17, -1, 40013, -1, 53, false, 1, 100, 1000)).toBe(false);
  });

  it('a flow is left to the engine until its conn has shown 8 client packets (the default): short connections are never learnt', () => {
    const e = director(8);
    const pkt = (fl: string) => send(e, tcp({ src: CLIENT, dst: VIP, srcPort: 40007, dstPort: 80, flags: fl }), 0);
    pkt('S');
    const i = e.lastConn;
    for (let k = 2; k < 8; k++) { pkt('A'); expect(e.fastEligible(i), `packet ${k}`).toBe(false); }
    pkt('PA');
    expect(e.fastEligible(i), 'packet 8').toBe(true);
    // Replies do not count: a download's client ACKs do.
    send(e, udp({ src: CLIENT, dst: VIP, srcPort: 40008, dstPort: 53 }), 0);
    const u = e.lastConn;
    for (let k = 0; k < 20; k++) send(e, udp({ src: '10.0.1.12', dst: CLIENT, srcPort: 53, dstPort: 40008 }), 0);
    expect(e.fastEligible(u)).toBe(false);
  });

  it('a sweep counts packets and bytes, restarts the timer, and refuses a slot that holds another conn', () => {
    const e = director();
    send(e, udp({ src: CLIENT, dst: VIP, srcPort: 40002, dstPort: 53 }), 0);
    const i = e.lastConn;
    const before = e.listServices(udpKey(53))[0]!.stats;
    expect(e.fastActivity(i, 17, ip(CLIENT), 40002, ip(VIP), 53, false, 10, 1000, 200_000)).toBe(true);
    const after = e.listServices(udpKey(53))[0]!.stats;
    expect([after.inpkts - before.inpkts, after.inbytes - before.inbytes]).toEqual([10, 1000]);
    // UDP timeout 300 s from the sweep, not from the first datagram.
    const c = e.listConns(200_000).find((x) => x.cport === 40002)!;
    expect(c.expiresMs).toBeGreaterThan(299_000);
    expect(e.fastActivity(i, 17, ip(CLIENT), 40099, ip(VIP), 53, false, 1, 10, 200_000), 'another client port').toBe(false);
    e.tick(200_000 + 301_000);
    expect(e.fastActivity(i, 17, ip(CLIENT), 40002, ip(VIP), 53, false, 0, 0, 501_000), 'expired').toBe(false);
  });

  it('with a sync master: a conn is eligible only once sent (its threshold-th packet), and a sweep sends it when its count passes threshold + k × period', () => {
    const e = director();
    const sent: number[] = [];
    e.setSyncMaster((c) => sent.push(c.cport));
    e.setSyncParams({ threshold: 3, period: 50 });
    for (const fl of ['S', 'A']) send(e, tcp({ src: CLIENT, dst: VIP, srcPort: 40005, dstPort: 80, flags: fl }), 0);
    const i = e.lastConn;
    expect(e.fastEligible(i), 'two packets: not synced yet').toBe(false);
    send(e, tcp({ src: CLIENT, dst: VIP, srcPort: 40005, dstPort: 80, flags: 'PA' }), 0);
    expect(sent.filter((p) => p === 40005).length).toBeGreaterThanOrEqual(1);
    expect(e.fastEligible(i)).toBe(true);
    const n0 = sent.length;
    // Packets 4..40: no send due (the next is at 53).
    e.fastActivity(i, 6, ip(CLIENT), 40005, ip(VIP), 80, false, 37, 3700, 1000);
    expect(sent.length).toBe(n0);
    // 41..60 passes 53: one send.
    e.fastActivity(i, 6, ip(CLIENT), 40005, ip(VIP), 80, false, 20, 2000, 2000);
    expect(sent.length).toBe(n0 + 1);
    // Replies never send (IPVS syncs from the client direction).
    e.fastActivity(i, 6, ip(CLIENT), 40005, ip(VIP), 80, true, 500, 50_000, 3000);
    expect(sent.length).toBe(n0 + 1);
  });
});
