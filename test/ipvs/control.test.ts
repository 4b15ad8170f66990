import { describe, expect, it } from 'vitest';
import { ControlError } from '../../src/control/protocol.js';
import { DEST_F_OVERLOAD } from '../../src/ipvs/sched/scheduler.js';
import { VERDICT_XMIT } from '../../src/ipvs/engine.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { dest, engine, send, svc, tcp, tcpKey, udpKey } from './helpers.js';

function code(f: () => void): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ControlError);
    return (e as ControlError).code;
  }
  return 'no error';
}

describe('control operations mirror ip_vs_ctl.c errors', () => {
  it('services: EEXIST, ESRCH, ENOENT, EINVAL', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    expect(code(() => e.addService(svc(tcpKey())))).toBe('EEXIST');
    expect(code(() => e.editService(svc(tcpKey(81))))).toBe('ESRCH');
    expect(code(() => e.delService(tcpKey(81)))).toBe('ESRCH');
    expect(code(() => e.zero(tcpKey(81)))).toBe('ESRCH');
    expect(code(() => e.listServices(tcpKey(81)))).toBe('ESRCH');
    expect(code(() => e.addService(svc(tcpKey(81), { scheduler: 'bogus' as never })))).toBe('ENOENT');
    expect(code(() => e.addService(svc(tcpKey(81), { pe: 'sip' })))).toBe('ENOENT');
    expect(code(() => e.addService(svc(tcpKey(0))))).toBe('EINVAL');
    expect(code(() => e.addService(svc(tcpKey(0), { persistence: 300 })))).toBe('no error');
    expect(code(() => e.addService(svc(tcpKey(82), { ops: true })))).toBe('EINVAL');
    expect(code(() => e.addService(svc(udpKey(53), { ops: true })))).toBe('no error');
    expect(code(() => e.addService(svc(tcpKey(83), { netmask: '255.0.255.0' })))).toBe('EINVAL');
    expect(code(() => e.addService(svc(tcpKey(84, '10.0.0.300'))))).toBe('EINVAL');
    expect(code(() => e.addService(svc({ kind: 'addr', protocol: 'sctp', addr: '10.0.0.1', port: 1 })))).toBe('EOPNOTSUPP');
    expect(code(() => e.addService(svc({ kind: 'fwmark', fwmark: 0 })))).toBe('EINVAL');
    expect(code(() => e.addService(svc({ kind: 'fwmark', fwmark: 7 })))).toBe('no error');
    expect(e.listServices().map((s) => s.key)).toHaveLength(4);
  });

  it('dests: ESRCH on a missing service, EEXIST, ENOENT, ERANGE, EINVAL', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    expect(code(() => e.addDest(tcpKey(81), dest('1.1.1.1', 80)))).toBe('ESRCH');
    e.addDest(tcpKey(), dest('1.1.1.1', 80));
    expect(code(() => e.addDest(tcpKey(), dest('1.1.1.1', 80)))).toBe('EEXIST');
    expect(code(() => e.addDest(tcpKey(), dest('1.1.1.1', 81)))).toBe('no error');
    expect(code(() => e.editDest(tcpKey(), dest('1.1.1.2', 80)))).toBe('ENOENT');
    expect(code(() => e.delDest(tcpKey(), '1.1.1.2', 80))).toBe('ENOENT');
    expect(code(() => e.addDest(tcpKey(), dest('1.1.1.3', 80, { uThreshold: 5, lThreshold: 6 })))).toBe('ERANGE');
    expect(code(() => e.addDest(tcpKey(), dest('1.1.1.3', 80, { uThreshold: 0, lThreshold: 1 })))).toBe('ERANGE');
    expect(code(() => e.addDest(tcpKey(), dest('1.1.1.3', 80, { weight: 65536 })))).toBe('EINVAL');
    expect(code(() => e.addDest(tcpKey(), dest('1.1.1.3', 80, { weight: -1 })))).toBe('EINVAL');
    expect(code(() => e.addDest(tcpKey(), dest('1.1.1.3', 80, { fwd: 'local' })))).toBe('EOPNOTSUPP');
    expect(code(() => e.addDest(tcpKey(), dest('1.1.1.3', 80, { fwd: 'tunnel', tunType: 'gue' })))).toBe('EOPNOTSUPP');
    expect(code(() => e.editDest(tcpKey(), dest('1.1.1.1', 80, { weight: 5 })))).toBe('no error');
    expect(e.listServices()[0]!.dests.map((d) => [d.addr, d.port, d.weight])).toEqual([['1.1.1.1', 80, 5], ['1.1.1.1', 81, 1]]);
    e.delDest(tcpKey(), '1.1.1.1', 81);
    expect(e.listServices()[0]!.dests).toHaveLength(1);
  });

  it('flush removes every service; info reports the bucket count', () => {
    const e = engine();
    expect(e.info()).toEqual({ version: '1.2.1', connTableSize: 4096 });
    expect(engine({ connTableBits: 16 }).info().connTableSize).toBe(65536);
    e.addService(svc(tcpKey()));
    e.addService(svc(udpKey()));
    e.flush();
    expect(e.listServices()).toEqual([]);
    expect(e.hasVip(ipToU32('10.0.0.100'))).toBe(false);
  });

  it('serviceKeys lists VIPs and NAT real servers for interception', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest('192.168.1.10', 8080, { fwd: 'masq' }));
    e.addDest(tcpKey(), dest('192.168.1.11', 0, { fwd: 'masq' }));
    e.addDest(tcpKey(), dest('192.168.1.12', 80));
    e.addService(svc({ kind: 'fwmark', fwmark: 3 }));
    e.addDest({ kind: 'fwmark', fwmark: 3 }, dest('192.168.1.13', 0, { fwd: 'masq' }));
    e.addDest({ kind: 'fwmark', fwmark: 3 }, dest('192.168.1.14', 0));
    expect(e.hasVip(ipToU32('10.0.0.100'))).toBe(true);
    expect(e.serviceKeys()).toEqual({
      services: [{ protocol: 'tcp', vaddr: ipToU32('10.0.0.100'), vport: 80, addr: '10.0.0.100', af: 4 }],
      natDests: [
        { protocol: 'tcp', raddr: ipToU32('192.168.1.10'), rport: 8080, addr: '192.168.1.10', af: 4 },
        { protocol: 'tcp', raddr: ipToU32('192.168.1.11'), rport: 80, addr: '192.168.1.11', af: 4 },
        // A fwmark service's NAT replies come from any port, TCP or UDP.
        { protocol: 'tcp', raddr: ipToU32('192.168.1.13'), rport: 0, addr: '192.168.1.13', af: 4 },
        { protocol: 'udp', raddr: ipToU32('192.168.1.13'), rport: 0, addr: '192.168.1.13', af: 4 },
      ],
      fwmarks: [3],
    });
  });
});

describe('weights and thresholds', () => {
  it('weight 0 quiesces a dest: no new conns, existing ones keep flowing', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest('1.1.1.1', 80));
    const a = send(e, tcp({ flags: 'S', srcPort: 1000 }));
    expect(a.nextHop).toBe(ipToU32('1.1.1.1'));
    e.editDest(tcpKey(), dest('1.1.1.1', 80, { weight: 0 }));
    expect(send(e, tcp({ flags: 'A', srcPort: 1000 })).verdict).toBe(VERDICT_XMIT);
    const b = send(e, tcp({ flags: 'S', srcPort: 1001 }));
    // No usable dest: ICMP port unreachable back to the client, from the VIP.
    expect(b.verdict).toBe(VERDICT_XMIT);
    expect(b.nextHop).toBe(ipToU32('10.0.0.1'));
    expect(b.pkt![9]).toBe(1);
    expect([b.pkt![20], b.pkt![21]]).toEqual([3, 3]);
    expect(e.counters().icmp_generated).toBe(1);
  });

  it('u_threshold sets OVERLOAD at active+inactive >= u; l_threshold clears it below l', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest('1.1.1.1', 80, { uThreshold: 3, lThreshold: 2 }));
    e.addDest(tcpKey(), dest('1.1.1.2', 80, { weight: 0 }));
    for (let p = 1; p <= 3; p++) expect(send(e, tcp({ flags: 'S', srcPort: p })).nextHop).toBe(ipToU32('1.1.1.1'));
    // Overloaded now: the 4th gets no dest.
    expect(send(e, tcp({ flags: 'S', srcPort: 4 })).nextHop).toBe(ipToU32('10.0.0.1'));
    // One conn closes and expires: total 2, not < l=2: still overloaded.
    send(e, tcp({ flags: 'A', srcPort: 1 }));
    send(e, tcp({ flags: 'R', srcPort: 1 }));
    e.tick(0);
    e.tick(11_000);
    expect(e.listServices()[0]!.dests[0]!.inactConns).toBe(2);
    expect(send(e, tcp({ flags: 'S', srcPort: 5 }, ), 11_000).nextHop).toBe(ipToU32('10.0.0.1'));
    send(e, tcp({ flags: 'A', srcPort: 2 }), 11_000);
    send(e, tcp({ flags: 'R', srcPort: 2 }), 11_000);
    e.tick(22_000);
    expect(send(e, tcp({ flags: 'S', srcPort: 6 }), 22_000).nextHop).toBe(ipToU32('1.1.1.1'));
  });

  it('without l_threshold the overload clears at 3/4 of u', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest('1.1.1.1', 80, { uThreshold: 4 }));
    e.tick(0);
    for (let p = 1; p <= 4; p++) send(e, tcp({ flags: 'S', srcPort: p }));
    const flags = () => (e as unknown as { st: { dests: { flags: number }[] } }).st.dests[0]!.flags & DEST_F_OVERLOAD;
    expect(flags()).toBe(DEST_F_OVERLOAD);
    for (const p of [1]) { send(e, tcp({ flags: 'A', srcPort: p })); send(e, tcp({ flags: 'R', srcPort: p })); }
    e.tick(11_000);
    expect(flags()).toBe(DEST_F_OVERLOAD); // 3*4 = 12 is not < 4*3 = 12
    for (const p of [2]) { send(e, tcp({ flags: 'A', srcPort: p }), 11_000); send(e, tcp({ flags: 'R', srcPort: p }), 11_000); }
    e.tick(22_000);
    expect(flags()).toBe(0);
  });
});

describe('generated ICMP is rate-limited', () => {
  it('answers no-dest SYNs with port unreachable up to the budget, then drops them (drop_no_dest)', () => {
    const e = engine({ icmpRate: 2 });
    e.addService(svc(tcpKey()));
    e.tick(0);
    const v = [1, 2, 3].map((p) => send(e, tcp({ flags: 'S', srcPort: p }), 0).verdict);
    expect(v).toEqual([VERDICT_XMIT, VERDICT_XMIT, 0]);
    expect(e.counters().drop_no_dest).toBe(1);
    e.tick(1000);
    expect(send(e, tcp({ flags: 'S', srcPort: 4 }), 1000).verdict).toBe(VERDICT_XMIT);
    expect(e.counters().icmp_generated).toBe(3);
  });
});

describe('zero', () => {
  it('zeroes one service and its dests, leaving the others', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest('1.1.1.1', 80));
    e.addService(svc(tcpKey(81)));
    e.addDest(tcpKey(81), dest('1.1.1.1', 81));
    send(e, tcp({ flags: 'S' }));
    send(e, tcp({ flags: 'S', dstPort: 81 }));
    e.zero(tcpKey());
    const [a, b] = e.listServices();
    expect(a!.stats).toEqual({ conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
    expect(a!.dests[0]!.stats.inpkts).toBe(0);
    expect(b!.stats.conns).toBe(1);
    expect(b!.dests[0]!.stats.inpkts).toBe(1);
  });
});
