import { describe, expect, it } from 'vitest';
import { ControlError } from '../../src/control/protocol.js';
import { VERDICT_DROP, VERDICT_XMIT } from '../../src/ipvs/engine.js';
import type { Ruleset } from '../../src/ipvs/types.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { dest, engine, send, svc, tcp, tcpKey, udpKey } from './helpers.js';

const A = '192.168.1.10';
const B = '192.168.1.11';
const C = '192.168.1.12';

function rules(...dests: string[]): Ruleset {
  return { services: [{ ...svc(tcpKey()), dests: dests.map((d) => dest(d, 80)) }] };
}

describe('replace()', () => {
  it('a bad ruleset changes nothing', () => {
    const e = engine();
    e.replace(rules(A, B));
    const before = JSON.stringify(e.listServices());
    const bad: Ruleset[] = [
      { services: [{ ...svc(tcpKey()), dests: [] }, { ...svc(tcpKey()), dests: [] }] },
      { services: [{ ...svc(udpKey()), dests: [] }, { ...svc(tcpKey(), { scheduler: 'nope' as never }), dests: [] }] },
      { services: [{ ...svc(tcpKey()), dests: [dest(C, 80), dest(C, 80)] }] },
      { services: [{ ...svc(tcpKey()), dests: [dest(C, 80, { uThreshold: 1, lThreshold: 2 })] }] },
      { services: [{ ...svc(udpKey()), dests: [] }, { ...svc(tcpKey(0)), dests: [] }] },
    ];
    const codes = bad.map((r) => {
      try { e.replace(r); return 'ok'; } catch (x) { expect(x).toBeInstanceOf(ControlError); return (x as ControlError).code; }
    });
    expect(codes).toEqual(['EEXIST', 'ENOENT', 'EEXIST', 'ERANGE', 'EINVAL']);
    expect(JSON.stringify(e.listServices())).toBe(before);
  });

  it('surviving conns keep their dest and counters; removed dests get no new conns and their conns stop (expire_nodest_conn=0)', () => {
    const e = engine();
    e.replace(rules(A, B));
    expect(send(e, tcp({ flags: 'S', srcPort: 1 })).nextHop).toBe(ipToU32(A));
    expect(send(e, tcp({ flags: 'S', srcPort: 2 })).nextHop).toBe(ipToU32(B));
    send(e, tcp({ flags: 'A', srcPort: 1 }));
    e.replace({ services: [{ ...svc(tcpKey(), { scheduler: 'wlc' }), dests: [dest(C, 80), dest(A, 80, { weight: 3 })] }] });
    const st = e.listServices()[0]!;
    expect(st.scheduler).toBe('wlc');
    expect(st.dests.map((d) => [d.addr, d.weight, d.activeConns])).toEqual([[A, 3, 1], [C, 1, 0]]);
    expect(st.stats.conns).toBe(2);
    // The survivor keeps going to A.
    expect(send(e, tcp({ flags: 'PA', srcPort: 1 })).nextHop).toBe(ipToU32(A));
    // B's conn: dropped silently, as IPVS does for a conn whose dest was deleted.
    expect(send(e, tcp({ flags: 'A', srcPort: 2 })).verdict).toBe(VERDICT_DROP);
    // New conns never reach B.
    for (let p = 10; p < 20; p++) expect(send(e, tcp({ flags: 'S', srcPort: p })).nextHop).not.toBe(ipToU32(B));
    // Re-adding B revives it with its conn (the kernel's dest trash).
    e.addDest(tcpKey(), dest(B, 80));
    expect(e.listServices()[0]!.dests.find((d) => d.addr === B)!.inactConns).toBe(1);
    expect(send(e, tcp({ flags: 'A', srcPort: 2 })).verdict).toBe(VERDICT_XMIT);
  });

  it('removes services missing from the new ruleset', () => {
    const e = engine();
    e.replace({ services: [{ ...svc(tcpKey()), dests: [dest(A, 80)] }, { ...svc(udpKey()), dests: [] }] });
    e.replace({ services: [{ ...svc(udpKey()), dests: [dest(B, 53, { fwd: 'masq' })] }] });
    expect(e.listServices().map((s) => s.key)).toEqual([udpKey()]);
    expect(e.serviceKeys().natDests).toEqual([{ protocol: 'udp', raddr: ipToU32(B), rport: 53, addr: B, af: 4 }]);
    expect(send(e, tcp({ flags: 'S' })).verdict).toBe(2);
  });

  it('passes tunSource from the extra callback', () => {
    const e = engine();
    e.replace({ services: [{ ...svc(tcpKey()), dests: [dest(A, 80, { fwd: 'tunnel' })] }] }, () => ({ tunSource: ipToU32('10.9.9.9') }));
    const r = send(e, tcp({ flags: 'S' }));
    expect([...r.pkt!.subarray(12, 16)]).toEqual([10, 9, 9, 9]);
  });
});
