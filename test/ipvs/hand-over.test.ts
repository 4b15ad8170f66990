// Re-steering between lvsd's workers: one engine hands over the entries a
// new fanout plan gives another worker (IpvsCtl.handOver), the other adopts
// them (IpvsCtl.adopt). What the second table then holds must be what the
// first held: the same conns in the same states on the same real servers,
// templates included, with their remaining time, and later packets of a
// handed-over flow must be forwarded by the adopter to the same real server.
import { describe, expect, it } from 'vitest';
import { VERDICT_XMIT } from '../../src/ipvs/engine.js';
import { CLIENT, VIP, dest, engine, send, svc, tcp, tcpKey } from './helpers.js';
import { VIP6, buildTcp6Frame } from '../packet/build/ipv6.js';
import { readIp, u32ToIp } from '../../src/packet/addr.js';

/** Where a NAT'd packet the engine produced goes (its IPv4 destination). */
const dstOf = (pkt?: Uint8Array): string => (pkt ? u32ToIp(readIp(pkt, 16)) : '?');

function director() {
  const e = engine();
  e.addService(svc(tcpKey(80), { persistence: 300, netmask: '255.255.255.0' }));
  e.addDest(tcpKey(80), dest('10.0.1.11', 80, { fwd: 'masq' }));
  e.addDest(tcpKey(80), dest('10.0.1.12', 80, { fwd: 'masq' }));
  e.addService(svc(tcpKey(443)));
  e.addDest(tcpKey(443), dest('10.0.1.11', 443));
  e.addDest(tcpKey(443), dest('10.0.1.12', 443));
  const k6 = { kind: 'addr' as const, protocol: 'tcp' as const, addr: VIP6, port: 80 };
  e.addService(svc(k6));
  e.addDest(k6, dest('2001:db8:1::11', 80));
  return e;
}

const row = (c: { protocol: string; caddr: string; cport: number; vport: number; daddr: string; dport: number; state: string; template: boolean }) =>
  `${c.protocol} ${c.caddr}:${c.cport} :${c.vport} ${c.daddr}:${c.dport} ${c.state}${c.template ? ' tpl' : ''}`;

describe('hand-over between workers', () => {
  it('moves what the predicate picks, conns and their templates, and the adopter forwards their later packets alike', () => {
    const a = director();
    const b = director();
    const t0 = 1_000;
    // Established conns on a persistent NAT service (a template each client /24), a DR one, and an IPv6 one.
    for (let i = 0; i < 6; i++) {
      for (const fl of ['S', 'A']) send(a, tcp({ src: `10.0.${i % 2 === 0 ? 0 : 3}.${i + 1}`, dst: VIP, srcPort: 40000 + i, dstPort: 80, flags: fl }), t0);
      for (const fl of ['S', 'A']) send(a, tcp({ src: CLIENT, dst: VIP, srcPort: 41000 + i, dstPort: 443, flags: fl }), t0);
    }
    for (const fl of ['S', 'A']) send(a, buildTcp6Frame({ src: '2001:db8::7', dst: VIP6, srcPort: 42000, dstPort: 80, flags: fl }), t0);
    const before = a.listConns(t0).map(row).sort();
    expect(before.filter((r) => r.endsWith('tpl'))).toHaveLength(2);

    // Move everything of port 80 (IPv4 and IPv6), keep the 443 ones.
    const moved = a.handOver((c) => c.vport === 80, t0 + 5_000);
    expect(moved.length).toBe(6 + 2 + 1);
    expect(b.adopt(moved, t0 + 5_000)).toBe(moved.length);
    const kept = a.listConns(t0 + 5_000).map(row).sort();
    const got = b.listConns(t0 + 5_000).map(row).sort();
    expect([...kept, ...got].sort()).toEqual(before);
    expect(kept.every((r) => r.includes(':443 '))).toBe(true);
    // Remaining time, not the full state timeout: 15 min less the 5 s that passed.
    const est = b.listConns(t0 + 5_000).find((c) => c.state === 'ESTABLISHED')!;
    expect(est.expiresMs).toBeGreaterThan(900_000 - 5_000 - 1_500);
    expect(est.expiresMs).toBeLessThanOrEqual(900_000 - 5_000 + 1_000);
    expect(a.counters()).toMatchObject({ conns_handed_over: 9, conns_expired: 0 });
    expect(b.counters()).toMatchObject({ conns_adopted: 9, conns_adopt_failed: 0, sync_in_created: 0 });

    // A later packet of a moved flow: the adopter forwards it to the same real server, the old table no longer knows it.
    const pkt = tcp({ src: '10.0.0.1', dst: VIP, srcPort: 40000, dstPort: 80, flags: 'A' });
    const was = before.find((r) => r.startsWith('tcp 10.0.0.1:40000 '))!;
    const r = send(b, pkt, t0 + 6_000);
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(was).toContain(` ${dstOf(r.pkt)}:80 `);
    expect(send(a, pkt, t0 + 6_000).verdict).not.toBe(VERDICT_XMIT);
    // A new conn from the same /24 on the adopter follows the moved template.
    const n = send(b, tcp({ src: '10.0.0.9', dst: VIP, srcPort: 40100, dstPort: 80, flags: 'S' }), t0 + 6_000);
    const tpl = before.find((r) => r.startsWith('tcp 10.0.0.0:0 ') && r.endsWith('tpl'))!;
    expect(tpl).toContain(` ${dstOf(n.pkt)}:80 `);
  });
});
