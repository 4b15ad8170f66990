// The engine's half of sync: what a master hands its daemon and when
// (ip_vs_sync_conn_needed with sync_threshold 3 50), and what a backup does
// with an entry (creates/updates, bound to its own dest, never scheduled).
import { describe, expect, it } from 'vitest';
import { VERDICT_DROP, VERDICT_XMIT } from '../../src/ipvs/engine.js';
import { ipToU32 } from '../../src/packet/addr.js';
import {
  IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_NOOUTPUT, IP_VS_CONN_F_TEMPLATE, type SyncConn,
} from '../../src/sync/message.js';
import { CLIENT, VIP, dest, engine, send, svc, tcp, tcpKey, udp, udpKey } from './helpers.js';
import { decodeMessage, encodeMessage } from '../../src/sync/message.js';
import { formatIpv6, parseIpv6 } from '../../src/packet/ipv6.js';
import type { ServiceKey } from '../../src/ipvs/types.js';
import { CLIENT6, VIP6, buildTcp6Frame, buildUdp6Frame } from '../packet/build/ipv6.js';

function master(o: { persistence?: number; fwd?: 'route' | 'masq' } = {}) {
  const e = engine();
  e.addService(svc(tcpKey(80), { persistence: o.persistence ?? 0 }));
  e.addDest(tcpKey(80), dest('10.0.1.11', 80, { fwd: o.fwd ?? 'route' }));
  e.addDest(tcpKey(80), dest('10.0.1.12', 80, { fwd: o.fwd ?? 'route' }));
  e.addService(svc(udpKey(53)));
  e.addDest(udpKey(53), dest('10.0.1.11', 53));
  const sent: { pkt: number; c: SyncConn }[] = [];
  let pkt = 0;
  e.setSyncMaster((c) => sent.push({ pkt, c: { ...c } }));
  const tick = () => ++pkt;
  return { e, sent, tick };
}

const SP = 40001;
const f = (flags: string) => tcp({ src: CLIENT, dst: VIP, srcPort: SP, dstPort: 80, flags });

describe('master: ip_vs_sync_conn_needed with sync_threshold 3 50', () => {
  it('TCP: first at the 3rd packet once ESTABLISHED, then every 50, state changes at once', () => {
    const { e, sent, tick } = master();
    tick(); send(e, f('S'));
    tick(); send(e, f('A'));
    expect(sent).toEqual([]);
    for (let k = 3; k <= 110; k++) { tick(); send(e, f('A')); }
    expect(sent.map((s) => s.pkt)).toEqual([3, 53, 103]);
    const c = sent[0]!.c;
    expect(c).toMatchObject({
      protocol: 6, state: 1, cport: SP, vport: 80, dport: 80, timeout: 900, fwmark: 0,
      caddr: ipToU32(CLIENT), vaddr: ipToU32(VIP), flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT,
    });
    tick(); send(e, f('FA'));
    expect(sent.length).toBe(4);
    expect(sent[3]!.c).toMatchObject({ state: 4, timeout: 120, flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT | IP_VS_CONN_F_INACTIVE });
    // Same state again: no forced resend.
    tick(); send(e, f('A'));
    expect(sent.length).toBe(4);
    expect(e.counters().sync_conns_queued).toBe(4);
  });

  it('UDP: at the 3rd packet and every 50 after', () => {
    const { e, sent } = master();
    for (let k = 1; k <= 60; k++) send(e, udp({ src: CLIENT, dst: VIP, srcPort: 5353, dstPort: 53 }));
    expect(sent.length).toBe(2);
    expect(sent[0]!.c).toMatchObject({ protocol: 17, state: 0, timeout: 300 });
  });

  it('persistence: the template follows its conn (every packet with sync_period > 0, as the kernel)', () => {
    const { e, sent } = master({ persistence: 360 });
    send(e, f('S'));
    send(e, f('A'));
    send(e, f('A'));
    const tpls = sent.filter((s) => s.c.flags & IP_VS_CONN_F_TEMPLATE);
    const conns = sent.filter((s) => !(s.c.flags & IP_VS_CONN_F_TEMPLATE));
    expect(tpls.length).toBe(3);
    expect(conns.length).toBe(1);
    expect(tpls[0]!.c).toMatchObject({ cport: 0, vport: 80, timeout: 360, flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_NOOUTPUT | IP_VS_CONN_F_DROUTE });
  });

  it('threshold only (period 0): one sync per conn', () => {
    const { e, sent } = master();
    e.setSyncParams({ period: 0 });
    send(e, f('S'));
    for (let k = 0; k < 200; k++) send(e, f('A'));
    expect(sent.length).toBe(1);
    expect(() => e.setSyncParams({ threshold: 60, period: 50 })).toThrow(/below/);
  });

  it('nothing is counted or sent without a master sink', () => {
    const { e, sent } = master();
    e.setSyncMaster(null);
    for (let k = 0; k < 10; k++) send(e, f(k === 0 ? 'S' : 'A'));
    expect(sent).toEqual([]);
  });
});

function backup(fwd: 'route' | 'masq' = 'route') {
  const e = engine();
  e.addService(svc(tcpKey(80), { persistence: 0 }));
  e.addDest(tcpKey(80), dest('10.0.1.11', 80, { fwd }));
  e.addDest(tcpKey(80), dest('10.0.1.12', 80, { fwd }));
  return e;
}

const entry = (o: Partial<SyncConn> = {}): SyncConn => ({
  protocol: 6, flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT, state: 1, cport: SP, vport: 80, dport: 80, fwmark: 0,
  timeout: 900, caddr: ipToU32(CLIENT), vaddr: ipToU32(VIP), daddr: ipToU32('10.0.1.12'), ...o,
});

describe('backup: syncConn', () => {
  it('creates the entry with its state and timeout, bound to its own dest, and a mid-flow packet follows it', () => {
    const e = backup();
    expect(e.syncConn(entry(), 1000)).toBe('created');
    const [c] = e.listConns(1000);
    expect(c).toMatchObject({ protocol: 'tcp', state: 'ESTABLISHED', daddr: '10.0.1.12', dport: 80, fwd: 'route' });
    expect(Math.round(c!.expiresMs / 1000)).toBe(900);
    const d = e.listServices()[0]!.dests.find((x) => x.addr === '10.0.1.12')!;
    expect([d.activeConns, d.inactConns]).toEqual([1, 0]);
    // rr would have picked 10.0.1.11 for a new conn; the synced one goes to .12 and is not a drop.
    const r = send(e, f('A'), 2000);
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(r.nextHop).toBe(ipToU32('10.0.1.12'));
    expect(e.counters().sync_in_created).toBe(1);
    expect(e.counters().conns_created).toBe(0);
  });

  it('updates state, timeout and activity in place', () => {
    const e = backup();
    e.syncConn(entry(), 0);
    expect(e.syncConn(entry({ state: 4, timeout: 120, flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT | IP_VS_CONN_F_INACTIVE }), 0)).toBe('updated');
    const [c] = e.listConns(0);
    expect(c).toMatchObject({ state: 'FIN_WAIT' });
    expect(Math.round(c!.expiresMs / 1000)).toBe(120);
    const d = e.listServices()[0]!.dests.find((x) => x.addr === '10.0.1.12')!;
    expect([d.activeConns, d.inactConns]).toEqual([0, 1]);
  });

  it('an active entry to another dest replaces ours; an inactive one is ignored', () => {
    const e = backup();
    e.syncConn(entry(), 0);
    expect(e.syncConn(entry({ daddr: ipToU32('10.0.1.11'), flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_INACTIVE }), 0)).toBe('ignored_replaced');
    expect(e.listConns(0)[0]!.daddr).toBe('10.0.1.12');
    expect(e.syncConn(entry({ daddr: ipToU32('10.0.1.11') }), 0)).toBe('created');
    expect(e.listConns(0).map((c) => c.daddr)).toEqual(['10.0.1.11']);
  });

  it('templates: a new conn from that client after the switch goes where the template says', () => {
    const e = engine();
    e.addService(svc(tcpKey(80), { persistence: 300 }));
    e.addDest(tcpKey(80), dest('10.0.1.11', 80));
    e.addDest(tcpKey(80), dest('10.0.1.12', 80));
    expect(e.syncConn(entry({ cport: 0, state: 0, timeout: 300, flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT }), 0)).toBe('created');
    const l = e.listConns(0);
    expect(l[0]).toMatchObject({ template: true, state: 'NONE', daddr: '10.0.1.12' });
    expect(e.listServices()[0]!.dests.find((x) => x.addr === '10.0.1.12')!.persistConns).toBe(1);
    for (let p = 50000; p < 50004; p++) {
      const r = send(e, tcp({ src: CLIENT, dst: VIP, srcPort: p, dstPort: 80, flags: 'S' }));
      expect(r.nextHop).toBe(ipToU32('10.0.1.12'));
    }
  });

  it('NAT: the synced conn also answers replies (out chain)', () => {
    const e = backup('masq');
    expect(e.syncConn(entry({ flags: IP_VS_CONN_F_MASQ }), 0)).toBe('created');
    const reply = tcp({ src: '10.0.1.12', dst: CLIENT, srcPort: 80, dstPort: SP, flags: 'A' });
    expect(send(e, reply).verdict).toBe(VERDICT_XMIT);
  });

  it('refuses what it cannot bind, and counts why', () => {
    const e = backup();
    expect(e.syncConn(entry({ vport: 443 }), 0)).toBe('no_service');
    expect(e.syncConn(entry({ daddr: ipToU32('10.0.1.99') }), 0)).toBe('no_dest');
    expect(e.syncConn(entry({ state: 11 }), 0)).toBe('bad_state');
    expect(e.syncConn(entry({ protocol: 132 }), 0)).toBe('bad_protocol');
    const c = e.counters();
    expect([c.sync_in_no_service, c.sync_in_no_dest, c.sync_in_bad_state, c.sync_in_bad_protocol]).toEqual([1, 1, 1, 1]);
    expect(e.listConns(0)).toEqual([]);
    // Without the entry, the same mid-flow packet is a drop.
    expect(send(e, f('A')).verdict).toBe(VERDICT_DROP);
  });

  it('master → backup through the encoder: the backup table matches the master\'s', () => {
    const { e: m, sent } = master();
    for (let p = 0; p < 20; p++) {
      const g = (flags: string) => tcp({ src: CLIENT, dst: VIP, srcPort: 41000 + p, dstPort: 80, flags });
      send(m, g('S')); send(m, g('A')); send(m, g('A'));
    }
    const b = backup();
    for (const s of sent) b.syncConn(s.c, 0);
    const key = (c: { cport: number; daddr: string; state: string }) => `${c.cport}>${c.daddr} ${c.state}`;
    expect(b.listConns(0).map(key).sort()).toEqual(m.listConns(0).map(key).sort());
  });
});

describe('sloppy_tcp', () => {
  it('off (default): a mid-flow ACK for a service is a drop; on: it creates a conn, and mh sends it where the other director did', () => {
    const mk = () => {
      const e = engine();
      e.addService(svc(tcpKey(80), { scheduler: 'mh' }));
      for (const a of ['10.0.1.11', '10.0.1.12', '10.0.1.13']) e.addDest(tcpKey(80), dest(a, 80));
      return e;
    };
    const a = mk();
    const picks: number[] = [];
    for (let p = 42000; p < 42040; p++) picks.push(send(a, tcp({ src: `10.9.${p & 7}.${p & 255}`, dst: VIP, srcPort: p, dstPort: 80, flags: 'S' })).nextHop!);
    const b = mk();
    expect(send(b, tcp({ src: '10.9.0.1', dst: VIP, srcPort: 42000, dstPort: 80, flags: 'A' })).verdict).toBe(VERDICT_DROP);
    b.setSloppyTcp(true);
    for (let p = 42000, k = 0; p < 42040; p++, k++) {
      const r = send(b, tcp({ src: `10.9.${p & 7}.${p & 255}`, dst: VIP, srcPort: p, dstPort: 80, flags: 'A' }));
      expect(r.nextHop).toBe(picks[k]);
    }
    expect(b.listConns(0).length).toBe(40);
    // RST never creates one.
    expect(send(b, tcp({ src: '10.9.9.9', dst: VIP, srcPort: 1234, dstPort: 80, flags: 'R' })).verdict).toBe(VERDICT_DROP);
  });
});

// IPv6 conns: what the master hands its daemon is an ip_vs_sync_v6 entry
// (whole addresses, not the table's digests); the backup finds its IPv6
// service and dest by whole addresses too.
const RS6A = '2001:db8:1::11';
const RS6B = '2001:db8:1::12';
const k6 = (port = 80, protocol: 'tcp' | 'udp' = 'tcp'): ServiceKey => ({ kind: 'addr', protocol, addr: VIP6, port });
const b6 = (s: string) => parseIpv6(s)!;
/** A deep copy: the engine hands a reused object (and reused address bytes) to the sink. */
const copy = (c: SyncConn): SyncConn => ({ ...c, ...(c.v6 ? { v6: { caddr: c.v6.caddr.slice(), vaddr: c.v6.vaddr.slice(), daddr: c.v6.daddr.slice() } } : {}) });

function director6(o: { persistence?: number; fwd?: 'route' | 'masq' } = {}) {
  const e = engine();
  e.addService(svc(k6(80), { persistence: o.persistence ?? 0, netmask: o.persistence ? '64' : '128' }));
  e.addDest(k6(80), dest(RS6A, 80, { fwd: o.fwd ?? 'route' }));
  e.addDest(k6(80), dest(RS6B, 80, { fwd: o.fwd ?? 'route' }));
  e.addService(svc(k6(53, 'udp')));
  e.addDest(k6(53, 'udp'), dest(RS6A, 53));
  // An IPv4 service beside it: entries of both families share the table and the messages.
  e.addService(svc(tcpKey(80)));
  e.addDest(tcpKey(80), dest('10.0.1.11', 80));
  return e;
}

const f6 = (flags: string, srcPort = SP, src = CLIENT6) => buildTcp6Frame({ src, dst: VIP6, srcPort, dstPort: 80, flags });

describe('IPv6 conns: master', () => {
  it('sends an IPv6 entry with the conn\'s whole addresses at the 3rd packet, then on state changes', () => {
    const e = director6();
    const sent: SyncConn[] = [];
    e.setSyncMaster((c) => sent.push(copy(c)));
    send(e, f6('S')); send(e, f6('A'));
    expect(sent).toEqual([]);
    send(e, f6('A'));
    expect(sent.length).toBe(1);
    const c = sent[0]!;
    expect(c).toMatchObject({ protocol: 6, state: 1, cport: SP, vport: 80, dport: 80, timeout: 900, fwmark: 0, caddr: 0, vaddr: 0, daddr: 0,
      flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT });
    expect([formatIpv6(c.v6!.caddr), formatIpv6(c.v6!.vaddr), formatIpv6(c.v6!.daddr)]).toEqual([CLIENT6, VIP6, RS6A]);
    send(e, f6('FA'));
    expect(sent.length).toBe(2);
    expect(sent[1]).toMatchObject({ state: 4, timeout: 120 });
    // An IPv4 conn in between is still described as IPv4 (the scratch's v6 part is not left behind).
    for (const fl of ['S', 'A', 'A']) send(e, tcp({ src: CLIENT, dst: VIP, srcPort: SP, dstPort: 80, flags: fl }));
    expect(sent[2]).toMatchObject({ caddr: ipToU32(CLIENT), vaddr: ipToU32(VIP), daddr: ipToU32('10.0.1.11') });
    expect(sent[2]!.v6).toBeUndefined();
  });

  it('persistence: the template goes out as an IPv6 entry keyed by the masked client (-M 64), cport 0', () => {
    const e = director6({ persistence: 300 });
    const sent: SyncConn[] = [];
    e.setSyncMaster((c) => sent.push(copy(c)));
    const client = '2001:db8:0:0:aaaa:bbbb:cccc:dddd';
    for (const fl of ['S', 'A', 'A']) send(e, f6(fl, SP, client));
    const tpl = sent.find((c) => c.flags & IP_VS_CONN_F_TEMPLATE)!;
    expect(tpl).toMatchObject({ cport: 0, vport: 80, timeout: 300, protocol: 6 });
    expect(formatIpv6(tpl.v6!.caddr)).toBe('2001:db8::');
    expect(formatIpv6(tpl.v6!.vaddr)).toBe(VIP6);
  });
});

describe('IPv6 conns: backup', () => {
  const entry6 = (o: Partial<SyncConn> = {}, d = RS6B): SyncConn => ({
    protocol: 6, flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT, state: 1, cport: SP, vport: 80, dport: 80, fwmark: 0,
    timeout: 900, caddr: 0, vaddr: 0, daddr: 0, v6: { caddr: b6(CLIENT6), vaddr: b6(VIP6), daddr: b6(d) }, ...o,
  });

  it('creates the conn bound to its own IPv6 dest; a mid-flow packet goes where the master sent it', () => {
    const e = director6();
    expect(e.syncConn(entry6(), 1000)).toBe('created');
    const [c] = e.listConns(1000);
    expect(c).toMatchObject({ protocol: 'tcp', caddr: CLIENT6, vaddr: VIP6, daddr: RS6B, state: 'ESTABLISHED', fwd: 'route' });
    expect(Math.round(c!.expiresMs / 1000)).toBe(900);
    const d = e.listServices().find((s) => s.key.kind === 'addr' && s.key.addr === VIP6 && s.key.port === 80)!.dests.find((x) => x.addr === RS6B)!;
    expect([d.activeConns, d.inactConns]).toEqual([1, 0]);
    // rr would pick RS6A for a new conn; this one is synced to RS6B, and an ACK is not a drop.
    const r = send(e, f6('A'), 2000);
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(formatIpv6(r.out.nextHop6!)).toBe(RS6B);
    expect(e.counters().conns_created).toBe(0);
  });

  it('updates in place, replaces on an active entry to another dest, ignores an inactive one', () => {
    const e = director6();
    e.syncConn(entry6(), 0);
    expect(e.syncConn(entry6({ state: 4, timeout: 120, flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT | IP_VS_CONN_F_INACTIVE }), 0)).toBe('updated');
    expect(e.listConns(0)[0]).toMatchObject({ state: 'FIN_WAIT' });
    expect(e.syncConn(entry6({ flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_INACTIVE }, RS6A), 0)).toBe('ignored_replaced');
    expect(e.listConns(0).map((c) => c.daddr)).toEqual([RS6B]);
    expect(e.syncConn(entry6({}, RS6A), 0)).toBe('created');
    expect(e.listConns(0).map((c) => c.daddr)).toEqual([RS6A]);
  });

  it('a template sends new conns from that client\'s /64 where it says', () => {
    const e = director6({ persistence: 300 });
    const tplFlags = IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT;
    expect(e.syncConn(entry6({ cport: 0, state: 0, timeout: 300, flags: tplFlags, v6: { caddr: b6('2001:db8::'), vaddr: b6(VIP6), daddr: b6(RS6B) } }), 0)).toBe('created');
    expect(e.listConns(0)[0]).toMatchObject({ template: true, caddr: '2001:db8::', daddr: RS6B });
    for (let p = 50000; p < 50004; p++) {
      const r = send(e, f6('S', p, `2001:db8::${p.toString(16)}`));
      expect(formatIpv6(r.out.nextHop6!)).toBe(RS6B);
    }
  });

  it('NAT: the synced IPv6 conn answers replies (out chain by whole addresses)', () => {
    const e = director6({ fwd: 'masq' });
    expect(e.syncConn(entry6({ flags: IP_VS_CONN_F_MASQ }), 0)).toBe('created');
    const reply = buildTcp6Frame({ src: RS6B, dst: CLIENT6, srcPort: 80, dstPort: SP, flags: 'A' });
    const r = send(e, reply);
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(formatIpv6(r.pkt!.subarray(8, 24))).toBe(VIP6);
  });

  it('refuses what it cannot bind: no IPv6 service at that VIP:port, a dest not in it, an IPv4 address of the same fold', () => {
    const e = director6();
    expect(e.syncConn(entry6({ vport: 443 }), 0)).toBe('no_service');
    expect(e.syncConn(entry6({}, '2001:db8:1::99'), 0)).toBe('no_dest');
    expect(e.syncConn(entry6({ v6: { caddr: b6(CLIENT6), vaddr: b6('2001:db8::101'), daddr: b6(RS6B) } }), 0)).toBe('no_service');
    // An IPv6 entry never binds to the IPv4 service, nor an IPv4 entry to the IPv6 one.
    expect(e.syncConn(entry6({ v6: { caddr: b6(CLIENT6), vaddr: b6(`::ffff:${VIP}`), daddr: b6(RS6B) } }), 0)).toBe('no_service');
    expect(e.syncConn(entry({ vaddr: 0x20010db8 }), 0)).toBe('no_service');
    expect(e.listConns(0)).toEqual([]);
    expect(send(e, f6('A')).verdict).toBe(VERDICT_DROP);
  });

  it('master → wire → backup: both families in the same messages, the backup table equals the master\'s', () => {
    const m = director6({ persistence: 0 });
    const enc: SyncConn[] = [];
    m.setSyncMaster((c) => enc.push(copy(c)));
    for (let p = 0; p < 12; p++) {
      for (const fl of ['S', 'A', 'A']) send(m, f6(fl, 41000 + p, `2001:db8:c::${p + 1}`));
      for (const fl of ['S', 'A', 'A']) send(m, tcp({ src: CLIENT, dst: VIP, srcPort: 41000 + p, dstPort: 80, flags: fl }));
      for (let k = 0; k < 3; k++) send(m, buildUdp6Frame({ src: `2001:db8:c::${p + 1}`, dst: VIP6, srcPort: 5000 + p, dstPort: 53 }));
    }
    const r = decodeMessage(encodeMessage(4, enc), 4);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.msg.conns.filter((c) => c.v6).length).toBe(24);
    expect(r.msg.conns.filter((c) => !c.v6).length).toBe(12);
    const b = director6();
    for (const c of r.msg.conns) expect(b.syncConn(c, 0)).toBe('created');
    const key = (c: { protocol: string; caddr: string; cport: number; vaddr: string; daddr: string; state: string }) =>
      `${c.protocol} ${c.caddr}:${c.cport}>${c.vaddr}>${c.daddr} ${c.state}`;
    expect(b.listConns(0).map(key).sort()).toEqual(m.listConns(0).map(key).sort());
  });
});
