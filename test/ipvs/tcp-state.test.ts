import { describe, expect, it } from 'vitest';
import { VERDICT_DROP, VERDICT_XMIT, type IpvsEngine } from '../../src/ipvs/engine.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { CLIENT, dest, engine, ethWrap, send, svc, tcp, tcpKey } from './helpers.js';

const RS = '192.168.1.10';

function state(e: IpvsEngine, now = 0): string {
  const c = e.listConns(now).filter((x) => !x.template);
  expect(c).toHaveLength(1);
  return c[0]!.state;
}
function counts(e: IpvsEngine): [number, number] {
  const d = e.listServices()[0]!.dests[0]!;
  return [d.activeConns, d.inactConns];
}

describe('TCP states, DR (INPUT-ONLY table)', () => {
  it('walks a handshake and teardown seen only from the client side', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 80));
    const c = (flags: string) => send(e, tcp({ flags, seq: 1 }));
    expect(c('S').verdict).toBe(VERDICT_XMIT);
    expect(state(e)).toBe('SYN_RECV');
    expect(counts(e)).toEqual([0, 1]);
    c('A');
    expect(state(e)).toBe('ESTABLISHED');
    expect(counts(e)).toEqual([1, 0]);
    c('PA');
    expect(state(e)).toBe('ESTABLISHED');
    c('FA');
    expect(state(e)).toBe('FIN_WAIT');
    expect(counts(e)).toEqual([0, 1]);
    c('A');
    expect(state(e)).toBe('FIN_WAIT');
    c('R');
    expect(state(e)).toBe('CLOSE');
    expect(counts(e)).toEqual([0, 1]);
  });

  it('uses the state timeouts: SYN_RECV 60 s, ESTABLISHED 900 s, CLOSE 10 s', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 80));
    e.tick(0);
    send(e, tcp({ flags: 'S' }), 0);
    const exp = () => e.listConns(0)[0]!.expiresMs;
    expect(exp()).toBeGreaterThanOrEqual(60_000);
    expect(exp()).toBeLessThan(60_100);
    send(e, tcp({ flags: 'A' }), 0);
    expect(exp()).toBeGreaterThanOrEqual(900_000);
    send(e, tcp({ flags: 'R' }), 0);
    expect(exp()).toBeGreaterThanOrEqual(10_000);
    expect(exp()).toBeLessThan(10_100);
    e.tick(9_000);
    expect(e.listConns(9_000)).toHaveLength(1);
    e.tick(10_200);
    expect(e.listConns(10_200)).toHaveLength(0);
    expect(counts(e)).toEqual([0, 0]);
  });

  it('RST in SYN_RECV stays SYN_RECV (the table ignores a spoofable RST there)', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 80));
    send(e, tcp({ flags: 'S' }));
    send(e, tcp({ flags: 'R' }));
    expect(state(e)).toBe('SYN_RECV');
  });

  it('drops non-SYN segments without a conn, and a SYN in TIME_WAIT/CLOSE reschedules (conn_reuse_mode 1)', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 80));
    e.addDest(tcpKey(), dest('192.168.1.11', 80));
    expect(send(e, tcp({ flags: 'A' })).verdict).toBe(VERDICT_DROP);
    expect(e.counters().drop_tcp_no_conn).toBe(1);
    const first = send(e, tcp({ flags: 'S' })).nextHop;
    send(e, tcp({ flags: 'R' })); // SR + rst stays SR; ack then rst closes
    send(e, tcp({ flags: 'A' }));
    send(e, tcp({ flags: 'R' }));
    expect(state(e)).toBe('CLOSE');
    const second = send(e, tcp({ flags: 'S' })).nextHop;
    expect(state(e)).toBe('SYN_RECV');
    expect(second).not.toBe(first); // rr moved on: it was scheduled again
    expect(e.counters().conns_created).toBe(2);
  });

  it('a segment with no known flag moves to CLOSE', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 80));
    send(e, tcp({ flags: 'S' }));
    send(e, tcp({ flags: 'A' }));
    send(e, tcp({ flags: 'P' }));
    expect(state(e)).toBe('CLOSE');
  });
});

describe('TCP states, NAT (INPUT and OUTPUT tables)', () => {
  function natEngine() {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 8080, { fwd: 'masq' }));
    return e;
  }
  const fromRs = (flags: string) => tcp({ src: RS, dst: CLIENT, srcPort: 8080, dstPort: 40000, flags });

  it('tracks both directions through handshake and passive close', () => {
    const e = natEngine();
    const syn = send(e, tcp({ flags: 'S' }));
    expect(syn.nextHop).toBe(ipToU32(RS));
    expect(state(e)).toBe('SYN_RECV');
    const sa = send(e, fromRs('SA'));
    expect(sa.verdict).toBe(VERDICT_XMIT);
    expect(sa.nextHop).toBe(ipToU32(CLIENT));
    expect(state(e)).toBe('SYN_RECV');
    send(e, tcp({ flags: 'A' }));
    expect(state(e)).toBe('ESTABLISHED');
    expect(counts(e)).toEqual([1, 0]);
    send(e, fromRs('PA'));
    send(e, tcp({ flags: 'FA' }));
    expect(state(e)).toBe('CLOSE_WAIT');
    expect(counts(e)).toEqual([0, 1]);
    send(e, fromRs('A'));
    expect(state(e)).toBe('CLOSE_WAIT');
    send(e, fromRs('FA'));
    expect(state(e)).toBe('TIME_WAIT');
    send(e, tcp({ flags: 'A' }));
    expect(state(e)).toBe('TIME_WAIT');
    const st = e.listServices()[0]!;
    expect(st.stats.inpkts).toBe(4);
    expect(st.stats.outpkts).toBe(4);
    expect(st.stats.conns).toBe(1);
  });

  it('active close by the RS goes through FIN_WAIT', () => {
    const e = natEngine();
    send(e, tcp({ flags: 'S' }));
    send(e, fromRs('SA'));
    send(e, tcp({ flags: 'A' }));
    send(e, fromRs('FA'));
    expect(state(e)).toBe('FIN_WAIT');
    send(e, tcp({ flags: 'FA' }));
    expect(state(e)).toBe('TIME_WAIT');
  });

  it('--set tcp tcpfin udp changes ESTABLISHED and FIN_WAIT timeouts; 0 leaves one unchanged', () => {
    const e = natEngine();
    e.setTimeouts({ tcp: 100, tcpfin: 0, udp: 0 });
    expect(e.getTimeouts()).toEqual({ tcp: 100, tcpfin: 120, udp: 300 });
    e.setTimeouts({ tcpfin: 30 });
    expect(e.getTimeouts()).toEqual({ tcp: 100, tcpfin: 30, udp: 300 });
    send(e, tcp({ flags: 'S' }));
    send(e, fromRs('SA'));
    send(e, tcp({ flags: 'A' }));
    expect(e.listConns(0)[0]!.expiresMs).toBeLessThan(100_100);
    expect(e.listConns(0)[0]!.expiresMs).toBeGreaterThanOrEqual(100_000);
    send(e, fromRs('FA'));
    expect(e.listConns(0)[0]!.expiresMs).toBeLessThan(30_100);
    expect(() => e.setTimeouts({ tcp: -1 })).toThrow(/Invalid/);
  });

  it('the engine output re-parses as the client and RS expect', () => {
    const e = natEngine();
    const r = send(e, tcp({ flags: 'S' }));
    const back = send(e, ethWrap(r.pkt!)); // DNATed packet is RS-bound: not for a service
    expect(back.verdict).toBe(2);
  });
});
