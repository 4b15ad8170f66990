import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VERDICT_DROP, VERDICT_XMIT } from '../../src/ipvs/engine.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { checksum } from '../../src/packet/checksum.js';
import { buildFrame, parseFrame } from '../packet/build/frame.js';
import { decapsulateIpip } from '../packet/build/ipip.js';
import { CLIENT, VIP, dest, engine, ethWrap, send, svc, tcp, tcpKey, udp, udpKey } from './helpers.js';

const RS = '192.168.1.10';
const ROUTER = '10.0.0.254';

function parsed(pkt: Uint8Array) {
  const p = parseFrame(ethWrap(pkt));
  if (!p.ok) throw new Error(`engine output does not parse: ${p.reason}`);
  return p.value;
}

function natEngine(proto: 'tcp' | 'udp' = 'tcp') {
  const e = engine();
  const k = proto === 'tcp' ? tcpKey() : udpKey();
  e.addService(svc(k));
  e.addDest(k, dest(RS, 8080, { fwd: 'masq' }));
  return e;
}

describe('NAT rewrites', () => {
  it('DNATs TCP to RIP:rport with valid checksums, TTL untouched, payload intact', () => {
    const e = natEngine();
    const r = send(e, tcp({ flags: 'S', ttl: 17, payload: 'hello' }));
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(r.nextHop).toBe(ipToU32(RS));
    const p = parsed(r.pkt!);
    expect(p.ip!.dst).toBe(ipToU32(RS));
    expect(p.ip!.src).toBe(ipToU32(CLIENT));
    expect(p.ip!.ttl).toBe(17);
    expect(p.tcp!.dstPort).toBe(8080);
    expect(p.tcp!.srcPort).toBe(40000);
    expect(p.l4ChecksumOk).toBe(true);
    expect(new TextDecoder().decode(p.payload)).toBe('hello');
  });

  it('SNATs replies to VIP:vport, decrements TTL, refuses TTL 1', () => {
    const e = natEngine();
    send(e, tcp({ flags: 'S' }));
    const r = send(e, tcp({ src: RS, dst: CLIENT, srcPort: 8080, dstPort: 40000, flags: 'SA', ttl: 64, payload: 'x' }));
    expect(r.nextHop).toBe(ipToU32(CLIENT));
    const p = parsed(r.pkt!);
    expect(p.ip!.src).toBe(ipToU32(VIP));
    expect(p.tcp!.srcPort).toBe(80);
    expect(p.ip!.ttl).toBe(63);
    expect(p.l4ChecksumOk).toBe(true);
    const dead = send(e, tcp({ src: RS, dst: CLIENT, srcPort: 8080, dstPort: 40000, flags: 'A', ttl: 1 }));
    expect(dead.verdict).toBe(VERDICT_DROP);
    expect(e.counters().drop_ttl_exceeded).toBe(1);
  });

  it('UDP: checksum fixed when present, left 0 when absent', () => {
    const e = natEngine('udp');
    const a = parsed(send(e, udp({ srcPort: 5000, payload: 'q' })).pkt!);
    expect(a.udp!.dstPort).toBe(8080);
    expect(a.udp!.checksum).not.toBe(0);
    expect(a.l4ChecksumOk).toBe(true);
    const b = parsed(send(e, udp({ srcPort: 5001, payload: 'q', checksum: 0 })).pkt!);
    expect(b.udp!.checksum).toBe(0);
    expect(b.ip!.dst).toBe(ipToU32(RS));
    const reply = parsed(send(e, udp({ src: RS, dst: CLIENT, srcPort: 8080, dstPort: 5000, payload: 'a' })).pkt!);
    expect(reply.udp!.srcPort).toBe(53);
    expect(reply.l4ChecksumOk).toBe(true);
    const st = e.listConns(0);
    expect(st.map((c) => c.state)).toEqual(['UDP', 'UDP']);
    expect(e.listServices()[0]!.dests[0]!.inactConns).toBe(2);
  });

  it('property: any addresses, ports and payloads come out with correct checksums both ways', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 0xdfffffff }).filter((a) => a >>> 24 !== 127),
      fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }),
      fc.uint8Array({ maxLength: 64 }), fc.boolean(),
      (caddr, cport, rport, payload, isUdp) => {
        const e = engine();
        const k = isUdp ? udpKey(80) : tcpKey(80);
        e.addService(svc(k));
        e.addDest(k, dest(RS, rport, { fwd: 'masq' }));
        const mk = isUdp ? udp : tcp;
        const inP = parsed(send(e, mk({ src: caddr, dstPort: 80, srcPort: cport, payload })).pkt!);
        expect(inP.l4ChecksumOk).toBe(true);
        expect(checksum(ethWrap(send(e, mk({ src: caddr, dstPort: 80, srcPort: cport, payload, flags: 'A' } as never)).pkt!), 14, 20)).toBe(0);
        const outP = parsed(send(e, mk({ src: RS, dst: caddr, srcPort: rport, dstPort: cport, payload, flags: 'A' } as never)).pkt!);
        expect(outP.l4ChecksumOk).toBe(true);
        expect(outP.ip!.src).toBe(ipToU32(VIP));
      },
    ), { numRuns: 200 });
  });
});

describe('ICMP errors about NAT flows', () => {
  it('client-side error about a reply goes to the RS, inner header translated, all checksums valid', () => {
    const e = natEngine();
    send(e, tcp({ flags: 'S' }));
    // The reply the client side could not take: VIP:80 → client:40000.
    const reply = buildFrame({ ip: { src: VIP, dst: CLIENT, ttl: 60 }, tcp: { srcPort: 80, dstPort: 40000, flags: 'SA', seq: 9 } }).subarray(14);
    const err = buildFrame({ ip: { src: ROUTER, dst: VIP }, icmp: { type: 3, code: 4, mtu: 1400, quote: reply } });
    const r = send(e, err);
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(r.nextHop).toBe(ipToU32(RS));
    const p = parsed(r.pkt!);
    expect(p.ip!.dst).toBe(ipToU32(RS));
    expect(p.ip!.src).toBe(ipToU32(ROUTER));
    expect(checksum(r.pkt!, 20, r.pkt!.length - 20)).toBe(0); // ICMP checksum
    const inner = r.pkt!.subarray(28);
    expect(checksum(inner, 0, 20)).toBe(0);
    expect([...inner.subarray(12, 16)]).toEqual([192, 168, 1, 10]);
    expect((inner[20]! << 8) | inner[21]!).toBe(8080);
  });

  it('RS-side error about a client packet goes to the client as from the VIP; quoted TCP checksum restored exactly', () => {
    const e = natEngine();
    const orig = tcp({ flags: 'S', payload: 'abcdefgh' });
    const origCsum = (orig[14 + 20 + 16]! << 8) | orig[14 + 20 + 17]!;
    const dnat = send(e, orig).pkt!; // client → RIP:8080
    // The RS answers port unreachable, quoting 28 bytes of TCP (checksum included).
    const err = buildFrame({ ip: { src: RS, dst: CLIENT, ttl: 64 }, icmp: { type: 3, code: 3 }, payload: dnat.subarray(0, 48) });
    const r = send(e, err);
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(r.nextHop).toBe(ipToU32(CLIENT));
    const p = parsed(r.pkt!);
    expect(p.ip!.src).toBe(ipToU32(VIP));
    expect(p.ip!.ttl).toBe(63);
    expect(checksum(r.pkt!, 0, 20)).toBe(0);
    expect(checksum(r.pkt!, 20, r.pkt!.length - 20)).toBe(0);
    const inner = r.pkt!.subarray(28);
    expect([...inner.subarray(16, 20)]).toEqual([10, 0, 0, 100]);
    expect((inner[22]! << 8) | inner[23]!).toBe(80);
    expect(checksum(inner, 0, 20)).toBe(0);
    expect((inner[36]! << 8) | inner[37]!).toBe(origCsum);
  });

  it('a bad ICMP checksum on a tracked flow is dropped; ICMP about nothing is ignored', () => {
    const e = natEngine();
    send(e, tcp({ flags: 'S' }));
    const reply = buildFrame({ ip: { src: VIP, dst: CLIENT }, tcp: { srcPort: 80, dstPort: 40000, flags: 'SA' } }).subarray(14);
    const bad = buildFrame({ ip: { src: ROUTER, dst: VIP }, icmp: { type: 3, code: 4, mtu: 1400, quote: reply, checksum: 1 } });
    expect(send(e, bad).verdict).toBe(VERDICT_DROP);
    expect(e.counters().drop_icmp_bad_checksum).toBe(1);
    const ping = buildFrame({ ip: { src: CLIENT, dst: VIP }, icmp: { type: 8, id: 1, seq: 1 } });
    expect(send(e, ping).verdict).toBe(2);
  });

  it('DR: an ICMP error about a flow is forwarded untouched to the RS', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 80));
    send(e, tcp({ flags: 'S' }));
    const reply = buildFrame({ ip: { src: VIP, dst: CLIENT }, tcp: { srcPort: 80, dstPort: 40000, flags: 'SA' } }).subarray(14);
    const err = buildFrame({ ip: { src: ROUTER, dst: VIP }, icmp: { type: 3, code: 4, mtu: 1400, quote: reply } });
    const r = send(e, err);
    expect(r.nextHop).toBe(ipToU32(RS));
    expect([...r.pkt!]).toEqual([...err.subarray(14)]);
  });
});

describe('TUN', () => {
  function tunEngine() {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 80, { fwd: 'tunnel' }), { tunSource: ipToU32('192.168.1.1') });
    return e;
  }

  it('prepends an IPIP header: src tunSource, dst RIP, inner TTL/TOS/DF, valid checksum', () => {
    const e = tunEngine();
    const f = tcp({ flags: 'S', ttl: 33, tos: 0x10, payload: 'data' });
    const r = send(e, f);
    expect(r.nextHop).toBe(ipToU32(RS));
    const d = decapsulateIpip(r.pkt!);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.outer.src).toBe(ipToU32('192.168.1.1'));
    expect(d.value.outer.dst).toBe(ipToU32(RS));
    expect(d.value.outer.protocol).toBe(4);
    expect(d.value.outer.ttl).toBe(33);
    expect(d.value.outer.tos).toBe(0x10);
    expect(d.value.outer.df).toBe(true);
    expect(d.value.outer.totalLength).toBe(f.length - 14 + 20);
    expect([...r.pkt!.subarray(20)]).toEqual([...f.subarray(14)]);
  });

  it('oversize DF: ICMP frag-needed to the client with MTU = tunnel MTU - 20; without DF: dropped', () => {
    const e = tunEngine();
    e.setTunMtu(1400);
    const ok = send(e, tcp({ flags: 'S', payload: new Uint8Array(1380 - 40) }));
    expect(ok.pkt!.length).toBe(1400);
    const big = tcp({ flags: 'A', payload: new Uint8Array(1381 - 40) });
    const r = send(e, big);
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(r.nextHop).toBe(ipToU32(CLIENT));
    expect(r.out.buf).not.toBe(undefined);
    const p = parsed(r.pkt!);
    expect(p.ip!.src).toBe(ipToU32(VIP));
    expect(p.ip!.dst).toBe(ipToU32(CLIENT));
    expect(p.icmp!.type).toBe(3);
    expect(p.icmp!.code).toBe(4);
    expect((r.pkt![26]! << 8) | r.pkt![27]!).toBe(1380);
    expect(checksum(r.pkt!, 20, r.pkt!.length - 20)).toBe(0);
    expect([...r.pkt!.subarray(28, 48)]).toEqual([...big.subarray(14, 34)]);
    expect(r.out.start).toBeGreaterThanOrEqual(14);
    const nodf = send(e, tcp({ flags: 'A', df: false, payload: new Uint8Array(1400) }));
    expect(nodf.verdict).toBe(VERDICT_DROP);
    expect(e.counters().drop_tun_too_big).toBe(1);
  });
});

describe('TUN without a route yet', () => {
  it('accepts the dest, drops and counts its frames (drop_tun_no_route), and forwards once its source is set', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 80, { fwd: 'tunnel' }));
    expect(e.listServices()[0]!.dests.map((d) => d.addr)).toEqual([RS]);
    expect([...e.tunnelDests()]).toEqual([[ipToU32(RS), 0]]);
    const r = send(e, tcp({ flags: 'S' }));
    expect(r.verdict).toBe(VERDICT_DROP);
    expect(e.counters().drop_tun_no_route).toBe(1);
    expect(e.dropCount('tun_no_route')).toBe(1);
    expect(e.setTunSource(ipToU32(RS), ipToU32('192.168.1.1'))).toBe(1);
    expect(e.setTunSource(ipToU32(RS), ipToU32('192.168.1.1'))).toBe(0);
    // The conn made by the dropped SYN is kept (as IPVS keeps it); the retransmitted SYN goes through.
    const again = send(e, tcp({ flags: 'S' }));
    expect(again.verdict).toBe(VERDICT_XMIT);
    const d = decapsulateIpip(again.pkt!);
    expect(d.ok && d.value.outer.src).toBe(ipToU32('192.168.1.1'));
    // An edit without a source (still no route from the io layer's view) keeps the one it has.
    e.editDest(tcpKey(), dest(RS, 80, { fwd: 'tunnel', weight: 3 }));
    expect(e.tunnelDests().get(ipToU32(RS))).toBe(ipToU32('192.168.1.1'));
  });
});

describe('TUN and ICMP', () => {
  it('an ICMP error about a TUN flow is tunnelled to the RS like the flow', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 80, { fwd: 'tunnel' }), { tunSource: ipToU32('192.168.1.1') });
    send(e, tcp({ flags: 'S' }));
    const reply = buildFrame({ ip: { src: VIP, dst: CLIENT }, tcp: { srcPort: 80, dstPort: 40000, flags: 'SA' } }).subarray(14);
    const err = buildFrame({ ip: { src: ROUTER, dst: VIP }, icmp: { type: 3, code: 4, mtu: 1400, quote: reply } });
    const r = send(e, err);
    expect(r.nextHop).toBe(ipToU32(RS));
    const d = decapsulateIpip(r.pkt!);
    expect(d.ok).toBe(true);
    expect([...r.pkt!.subarray(20)]).toEqual([...err.subarray(14)]);
  });
});

describe('framing', () => {
  it('handles one 802.1Q tag; two tags are ignored', () => {
    const e = natEngine();
    const r = send(e, tcp({ flags: 'S', vlan: 10 }));
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(parsed(r.pkt!).ip!.dst).toBe(ipToU32(RS));
    expect(send(e, tcp({ flags: 'S', srcPort: 5, vlan: [10, 20] })).verdict).toBe(2);
    expect(e.counters().ignore_vlan_stacked).toBe(1);
  });

  it('trims Ethernet padding from DR output', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest(RS, 80));
    const f = tcp({ flags: 'S' });
    const padded = new Uint8Array(f.length + 6);
    padded.set(f);
    const r = send(e, padded);
    expect(r.pkt!.length).toBe(f.length - 14);
  });
});
