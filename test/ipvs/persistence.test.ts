import { describe, expect, it } from 'vitest';
import { ipToU32 } from '../../src/packet/addr.js';
import { dest, engine, send, svc, tcp, tcpKey } from './helpers.js';

const A = '192.168.1.10';
const B = '192.168.1.11';

function persistentEngine(o: { netmask?: string; port?: number } = {}) {
  const e = engine();
  const k = tcpKey(o.port ?? 80);
  e.addService(svc(k, { persistence: 300, netmask: o.netmask ?? '255.255.255.255' }));
  e.addDest(k, dest(A, o.port ?? 80));
  e.addDest(k, dest(B, o.port ?? 80));
  e.tick(0);
  return { e, k };
}

describe('persistence templates', () => {
  it('binds a client to one dest across conns; templates list with cport 0 and state NONE', () => {
    const { e } = persistentEngine();
    expect(send(e, tcp({ flags: 'S', srcPort: 1000 })).nextHop).toBe(ipToU32(A));
    expect(send(e, tcp({ flags: 'S', srcPort: 1001 })).nextHop).toBe(ipToU32(A));
    expect(send(e, tcp({ flags: 'S', src: '10.0.0.2', srcPort: 1000 })).nextHop).toBe(ipToU32(B));
    const tpl = e.listConns(0).filter((c) => c.template);
    expect(tpl).toHaveLength(2);
    expect(tpl[0]).toMatchObject({ protocol: 'tcp', caddr: '10.0.0.1', cport: 0, vaddr: '10.0.0.100', vport: 80, daddr: A, dport: 80, state: 'NONE' });
    expect(tpl[0]!.expiresMs).toBeGreaterThan(299_000);
    const d = e.listServices()[0]!.dests;
    expect(d.map((x) => [x.persistConns, x.inactConns])).toEqual([[1, 2], [1, 1]]);
    expect(e.counters().templates).toBe(2);
    expect(e.counters().conns).toBe(3);
  });

  it('-M groups clients by network; the template holds the masked address', () => {
    const { e } = persistentEngine({ netmask: '255.255.255.0' });
    expect(send(e, tcp({ flags: 'S', src: '10.0.0.1' })).nextHop).toBe(ipToU32(A));
    expect(send(e, tcp({ flags: 'S', src: '10.0.0.77' })).nextHop).toBe(ipToU32(A));
    expect(send(e, tcp({ flags: 'S', src: '10.0.1.1' })).nextHop).toBe(ipToU32(B));
    expect(e.listConns(0).filter((c) => c.template).map((c) => c.caddr)).toEqual(['10.0.0.0', '10.0.1.0']);
  });

  it('a template outlives its timeout while it controls conns, then expires', () => {
    const { e } = persistentEngine();
    send(e, tcp({ flags: 'S', srcPort: 1000 }), 0);
    send(e, tcp({ flags: 'A', srcPort: 1000 }), 0); // ESTABLISHED, 900 s
    e.tick(301_000);
    expect(e.listConns(301_000).filter((c) => c.template)).toHaveLength(1);
    send(e, tcp({ flags: 'R', srcPort: 1000 }), 301_000); // CLOSE, 10 s
    e.tick(312_000);
    expect(e.listConns(312_000).filter((c) => !c.template)).toHaveLength(0);
    // Re-armed for another persistence period at its last due time.
    e.tick(700_000);
    expect(e.listConns(700_000)).toHaveLength(0);
    expect(e.listServices()[0]!.dests[0]!.persistConns).toBe(0);
  });

  it('a new conn refreshes the template timer', () => {
    const { e } = persistentEngine();
    send(e, tcp({ flags: 'S', srcPort: 1000 }), 0);
    send(e, tcp({ flags: 'S', srcPort: 1001 }), 200_000);
    const t = e.listConns(200_000).find((c) => c.template)!;
    expect(t.expiresMs).toBeGreaterThan(299_000);
  });

  it('quiesced dest (weight 0) keeps serving its persistent clients; a deleted one does not', () => {
    const { e, k } = persistentEngine();
    send(e, tcp({ flags: 'S', srcPort: 1000 }));
    e.editDest(k, dest(A, 80, { weight: 0 }));
    expect(send(e, tcp({ flags: 'S', srcPort: 1001 })).nextHop).toBe(ipToU32(A));
    expect(send(e, tcp({ flags: 'S', src: '10.0.0.9' })).nextHop).toBe(ipToU32(B));
    e.delDest(k, A, 80);
    expect(send(e, tcp({ flags: 'S', srcPort: 1002 })).nextHop).toBe(ipToU32(B));
    // The old template was retired under port 65535, as ip_vs_check_template does.
    const old = e.listConns(0).filter((c) => c.template && c.daddr === A);
    expect(old.map((c) => [c.vport, c.dport])).toEqual([[65535, 65535]]);
  });

  it('port-zero service: one template (vport 0) for every port of the VIP', () => {
    const { e } = persistentEngine({ port: 0 });
    expect(send(e, tcp({ flags: 'S', dstPort: 80 })).nextHop).toBe(ipToU32(A));
    const r = send(e, tcp({ flags: 'S', dstPort: 443 }));
    expect(r.nextHop).toBe(ipToU32(A));
    const conns = e.listConns(0);
    expect(conns.filter((c) => c.template).map((c) => c.vport)).toEqual([0]);
    // dest port 0: conns keep the client's destination port.
    expect(conns.filter((c) => !c.template).map((c) => c.dport).sort()).toEqual([443, 80]);
  });
});
