import { describe, expect, it } from 'vitest';
import { VERDICT_XMIT } from '../../src/ipvs/engine.js';
import { dest, engine, mulberry, send, svc, tcp, tcpKey } from './helpers.js';
import { HEADROOM, type XmitOut } from '../../src/ipvs/engine.js';

describe('defense under a SYN flood', () => {
  it('never evicts established flows; embryonic entries make room; drops are counted when nothing can go', () => {
    const e = engine({ maxConns: 1000, connTableBits: 10, defense: { threshold: 0.5, embryonicTimeout: 3 } });
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest('192.168.1.10', 80));
    e.tick(0);
    // 600 real clients complete their handshakes.
    for (let p = 1; p <= 600; p++) {
      send(e, tcp({ flags: 'S', src: '10.1.0.1', srcPort: p }));
      send(e, tcp({ flags: 'A', src: '10.1.0.1', srcPort: p }));
    }
    expect(e.counters().defense_level).toBe(1);
    // 50k spoofed SYNs, one frame buffer reused as the io layer would.
    const rnd = mulberry(7);
    const frame = tcp({ flags: 'S', src: '172.16.0.1', srcPort: 1 });
    const buf = new Uint8Array(HEADROOM + frame.length);
    const out: XmitOut = { buf, start: 0, len: 0, nextHop: 0 };
    let xmit = 0;
    for (let k = 0; k < 50_000; k++) {
      buf.set(frame, HEADROOM);
      const src = (0xac100000 + Math.floor(rnd() * 0xfffff)) >>> 0;
      // Rewrite source address and port without fixing the TCP checksum: the engine does not verify it.
      const l3 = HEADROOM + 14;
      buf[l3 + 12] = src >>> 24; buf[l3 + 13] = src >>> 16; buf[l3 + 14] = src >>> 8; buf[l3 + 15] = src;
      let s = 0;
      buf[l3 + 10] = 0; buf[l3 + 11] = 0;
      for (let i = 0; i < 20; i += 2) s += (buf[l3 + i]! << 8) | buf[l3 + i + 1]!;
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      buf[l3 + 10] = (~s >>> 8) & 0xff; buf[l3 + 11] = ~s & 0xff;
      if (e.input(buf, HEADROOM, frame.length, 1000, out) === VERDICT_XMIT) xmit++;
    }
    const c = e.counters();
    expect(c.conns).toBe(1000);
    expect(c.defense_level).toBe(2);
    expect(c.defense_evictions).toBeGreaterThan(40_000);
    expect(xmit).toBe(50_000 - c.drop_conn_table_full);
    // Every established flow is still there and still forwarded.
    const est = e.listConns(1000).filter((x) => x.state === 'ESTABLISHED');
    expect(est).toHaveLength(600);
    for (let p = 1; p <= 600; p++) expect(send(e, tcp({ flags: 'PA', src: '10.1.0.1', srcPort: p }), 1000).verdict).toBe(VERDICT_XMIT);
    expect(e.listServices()[0]!.dests[0]!.activeConns).toBe(600);
    // Embryonic conns made under the defense time out after 3 s, not 60 s.
    e.tick(5000);
    expect(e.counters().conns).toBe(600);
    expect(e.counters().defense_level).toBe(1); // 600 is still above half the table
    for (let p = 1; p <= 200; p++) send(e, tcp({ flags: 'R', src: '10.1.0.1', srcPort: p }), 5000);
    e.tick(16_000);
    expect(e.counters().defense_level).toBe(0);
    expect(e.listServices()[0]!.dests[0]!.activeConns).toBe(400);
  });

  it('with only established flows in a full table, new SYNs are dropped and counted', () => {
    const e = engine({ maxConns: 100, connTableBits: 8 });
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest('192.168.1.10', 80));
    for (let p = 1; p <= 100; p++) {
      send(e, tcp({ flags: 'S', srcPort: p }));
      send(e, tcp({ flags: 'A', srcPort: p }));
    }
    for (let p = 101; p <= 150; p++) expect(send(e, tcp({ flags: 'S', srcPort: p })).verdict).toBe(0);
    const c = e.counters();
    expect(c.drop_conn_table_full).toBe(50);
    expect(c.conns).toBe(100);
    expect(e.listConns(0).every((x) => x.state === 'ESTABLISHED')).toBe(true);
  });

  it('secure_tcp table while defending: a lone SYN on DR lands in SYNACK', () => {
    const e = engine({ maxConns: 10, connTableBits: 4, defense: { threshold: 0.1 } });
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest('192.168.1.10', 80));
    send(e, tcp({ flags: 'S', srcPort: 1 }));
    send(e, tcp({ flags: 'S', srcPort: 2 }));
    expect(e.listConns(0).map((x) => x.state).sort()).toEqual(['SYNACK', 'SYN_RECV']);
  });
});
