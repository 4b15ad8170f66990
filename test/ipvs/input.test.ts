// input() on frames a wire can carry: each malformed one counted under its
// reason, dropped when addressed to a VIP, ignored otherwise; never a throw.
import { describe, expect, it } from 'vitest';
import { VERDICT_DROP, VERDICT_IGNORE } from '../../src/ipvs/engine.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { buildFrame } from '../packet/build/frame.js';
import { dest, engine, send, svc, tcp, tcpKey, udp, udpKey } from './helpers.js';

function fixIp(f: Uint8Array, l3 = 14): Uint8Array {
  f[l3 + 10] = 0; f[l3 + 11] = 0;
  let s = 0;
  const ihl = (f[l3]! & 15) * 4;
  for (let k = 0; k < ihl; k += 2) s += (f[l3 + k]! << 8) | f[l3 + k + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f[l3 + 10] = (~s >> 8) & 0xff; f[l3 + 11] = ~s & 0xff;
  return f;
}

function mk() {
  const e = engine();
  e.addService(svc(tcpKey()));
  e.addDest(tcpKey(), dest('192.168.1.10', 80));
  e.addService(svc(udpKey(), { ops: true }));
  e.addDest(udpKey(), dest('192.168.1.11', 53, { fwd: 'masq' }));
  return e;
}

describe('malformed and foreign frames', () => {
  const cases: [string, () => Uint8Array, number, string][] = [
    ['runt', () => tcp({}).subarray(0, 30), VERDICT_IGNORE, 'ignore_malformed_foreign'],
    ['ARP', () => { const f = tcp({}); f[12] = 8; f[13] = 6; return f; }, VERDICT_IGNORE, 'ignore_non_ip'],
    ['IPv6 ethertype, IPv4 inside', () => { const f = tcp({}); f[12] = 0x86; f[13] = 0xdd; return f; }, VERDICT_IGNORE, 'ignore_malformed_foreign'],
    ['bad version', () => fixIp((() => { const f = tcp({}); f[14] = 0x65; return f; })()), VERDICT_DROP, 'drop_bad_ip_version'],
    ['IHL 4', () => fixIp((() => { const f = tcp({}); f[14] = 0x44; return f; })()), VERDICT_DROP, 'drop_bad_ihl'],
    ['total length past the frame', () => fixIp((() => { const f = tcp({}); f[16] = 0x05; return f; })()), VERDICT_DROP, 'drop_truncated'],
    ['total length below IHL', () => fixIp((() => { const f = tcp({}); f[16] = 0; f[17] = 10; return f; })()), VERDICT_DROP, 'drop_bad_total_length'],
    ['bad IP checksum', () => { const f = tcp({}); f[24] ^= 1; return f; }, VERDICT_DROP, 'drop_bad_ip_checksum'],
    ['fragment (MF)', () => fixIp((() => { const f = tcp({}); f[20] = 0x20; return f; })()), VERDICT_DROP, 'drop_fragment'],
    ['fragment (offset)', () => fixIp((() => { const f = tcp({}); f[21] = 0x10; return f; })()), VERDICT_DROP, 'drop_fragment'],
    ['IP options', () => tcp({ ipOptions: Uint8Array.of(1, 1, 1, 0) }), VERDICT_DROP, 'drop_ip_options'],
    ['zero source', () => tcp({ src: '0.0.0.0' }), VERDICT_DROP, 'drop_bad_saddr'],
    ['multicast source', () => tcp({ src: '224.0.0.5' }), VERDICT_DROP, 'drop_bad_saddr'],
    ['broadcast source', () => tcp({ src: '255.255.255.255' }), VERDICT_DROP, 'drop_bad_saddr'],
    ['GRE to the VIP', () => buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.100', protocol: 47 }, payload: 'xxxx' }), VERDICT_DROP, 'drop_unknown_proto'],
    ['GRE elsewhere', () => buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.7', protocol: 47 }, payload: 'xxxx' }), VERDICT_IGNORE, 'ignore_not_service'],
    ['TCP doff 4', () => { const f = tcp({}); f[14 + 20 + 12] = 0x40; return f; }, VERDICT_DROP, 'drop_bad_tcp_doff'],
    ['TCP doff past the segment', () => { const f = tcp({}); f[14 + 20 + 12] = 0xf0; return f; }, VERDICT_DROP, 'drop_bad_tcp_doff'],
    ['short TCP', () => fixIp((() => { const f = tcp({}).slice(0, 14 + 20 + 12); f[16] = 0; f[17] = 32; return f; })()), VERDICT_DROP, 'drop_truncated'],
    ['UDP length past the datagram', () => { const f = udp({ payload: 'ab' }); f[14 + 20 + 5] = 200; return f; }, VERDICT_DROP, 'drop_bad_udp_length'],
    ['zero source port', () => tcp({ srcPort: 0 }), VERDICT_DROP, 'drop_zero_port'],
    ['zero port, not ours', () => tcp({ srcPort: 0, dst: '10.9.9.9' }), VERDICT_IGNORE, 'ignore_malformed_foreign'],
    ['bad checksum, not ours', () => { const f = tcp({ dst: '10.9.9.9' }); f[24] ^= 1; return f; }, VERDICT_IGNORE, 'ignore_malformed_foreign'],
    ['no service on that port', () => tcp({ dstPort: 81 }), VERDICT_IGNORE, 'ignore_not_service'],
    ['ping of the VIP', () => buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.100' }, icmp: { type: 8, id: 1, seq: 1 } }), VERDICT_IGNORE, 'ignore_icmp_no_conn'],
  ];
  for (const [name, frame, verdict, counter] of cases) {
    it(name, () => {
      const e = mk();
      expect(send(e, frame()).verdict).toBe(verdict);
      const c = e.counters();
      expect(c[counter]).toBe(1);
      expect(c.frames).toBe(1);
    });
  }
});

describe('one-packet scheduling, trace, listings', () => {
  it('-o: each UDP datagram is scheduled on its own and leaves no conn', () => {
    const e = engine();
    e.addService(svc(udpKey(), { ops: true }));
    e.addDest(udpKey(), dest('192.168.1.11', 53));
    e.addDest(udpKey(), dest('192.168.1.12', 53));
    const hops = [0, 1, 2, 3].map(() => send(e, udp({ srcPort: 7777 })).nextHop);
    expect(hops).toEqual([ipToU32('192.168.1.11'), ipToU32('192.168.1.12'), ipToU32('192.168.1.11'), ipToU32('192.168.1.12')]);
    expect(e.listConns(0)).toEqual([]);
    expect(e.listServices()[0]!.stats.conns).toBe(4);
    expect(e.listServices()[0]!.dests.map((d) => d.inactConns)).toEqual([0, 0]);
  });

  it('trace names the dest a flow has or would get, without creating state', () => {
    const e = engine();
    e.addService(svc(tcpKey(), { scheduler: 'sh' }));
    e.addDest(tcpKey(), dest('192.168.1.10', 80));
    e.addDest(tcpKey(), dest('192.168.1.11', 80));
    const c = ipToU32('10.0.0.1');
    const before = e.trace(tcpKey(), c, 40000, 0);
    expect(before.reason).toMatch(/scheduled by sh/);
    expect(e.listConns(0)).toEqual([]);
    const r = send(e, tcp({ flags: 'S' }));
    expect(ipToU32(before.dest!.addr)).toBe(r.nextHop);
    expect(e.trace(tcpKey(), c, 40000, 0)).toMatchObject({ dest: before.dest, reason: 'existing connection (SYN_RECV)' });
    e.editService(svc(tcpKey(), { scheduler: 'rr' }));
    expect(e.trace(tcpKey(), c, 40001, 0).dest).toBeUndefined();
    expect(() => e.trace(tcpKey(81), c, 1, 0)).toThrow(/No such service/);
  });

  it('lists conns with IPVS names and fields', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest('192.168.1.10', 8080, { fwd: 'masq' }));
    e.tick(0);
    send(e, tcp({ flags: 'S', srcPort: 1234 }), 0);
    expect(e.listConns(1000)).toEqual([{
      protocol: 'tcp', caddr: '10.0.0.1', cport: 1234, vaddr: '10.0.0.100', vport: 80, daddr: '192.168.1.10', dport: 8080,
      // 60 s rounded up to the wheel's 64 ms tick (938 ticks), minus the second elapsed.
      state: 'SYN_RECV', expiresMs: 59_032, fwd: 'masq', template: false,
    }]);
  });
});
