// PACKET_FANOUT_CBPF as lvsd --workers uses it, against the real kernel: the
// compiled fanout program (src/io/fanout.ts) sends every frame of a flow —
// request, NAT reply, ICMP errors quoting either direction — to the member
// the JS twin names (members indexed in join order); a group made with
// PACKET_FANOUT_FLAG_UNIQUEID gets an id of its own that the other members
// join by; PACKET_FANOUT_FLAG_IGNORE_OUTGOING keeps the host's own frames
// out of the group; and a member that leaves is replaced in its slot by the
// last one (af_packet.c __fanout_unlink), which is why lvsd exits rather
// than restarting a dead worker in place.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PACKET_FANOUT_CBPF, PACKET_FANOUT_FLAG_IGNORE_OUTGOING, PACKET_FANOUT_FLAG_UNIQUEID, ifaceInfo, openPacket,
  releaseSendSockets, withNetns, type PacketSocket,
} from '../../src/io/native.js';
import { compileFanout, workerOfConn, workerOfConn6, type FanoutService } from '../../src/io/fanout.js';
import { buildIcmp6Frame, buildTcp6Frame, buildUdp6Frame } from '../packet/build/ipv6.js';
import { parseIpv6 } from '../../src/packet/ipv6.js';
import { buildFrame, buildTcpFrame, buildUdpFrame } from '../packet/build/frame.js';
import { ipToU32, u32ToIp } from '../../src/packet/addr.js';
import { Lab, labPrereqs, sh, waitFor } from './native-netns.js';

const missing = labPrereqs();
const CI = process.env.CI === 'true';
const run = missing.length === 0 || CI;
const MAGIC = 0x4c565344; // "LVSD": the last 8 bytes of every test frame are MAGIC, seq

const services: FanoutService[] = [
  { key: { kind: 'addr', protocol: 'tcp', addr: '10.1.0.100', port: 80 }, persistence: 0, netmask: '255.255.255.255', dests: [{ addr: '10.2.0.11', port: 8080, fwd: 'masq' }] },
  { key: { kind: 'addr', protocol: 'udp', addr: '10.1.0.100', port: 53 }, persistence: 0, netmask: '255.255.255.255', dests: [{ addr: '10.2.0.12', port: 53, fwd: 'masq' }] },
  { key: { kind: 'addr', protocol: 'tcp', addr: '10.1.0.101', port: 443 }, persistence: 120, netmask: '255.255.255.0', dests: [{ addr: '10.2.0.13', port: 443, fwd: 'route' }] },
];
const VIP = ipToU32('10.1.0.100');

function tag(seq: number): Uint8Array {
  const t = new Uint8Array(8);
  new DataView(t.buffer).setUint32(0, MAGIC);
  new DataView(t.buffer).setUint32(4, seq);
  return t;
}

function seqOf(u8: Uint8Array, off: number, caplen: number): number {
  if (caplen < 22) return -1;
  const dv = new DataView(u8.buffer, u8.byteOffset + off + caplen - 8, 8);
  return dv.getUint32(0) === MAGIC ? dv.getUint32(4) : -1;
}

describe.runIf(run)('PACKET_FANOUT_CBPF steering (lvsd --workers)', () => {
  const lab = new Lab();
  let A = '';
  let B = '';
  let aMac = '';
  let bMac = '';
  const open: PacketSocket[] = [];

  beforeAll(() => {
    expect(missing, `lab prerequisites missing: ${missing.join(', ')}`).toEqual([]);
    A = lab.ns('a');
    B = lab.ns('b');
    lab.link(A, 'eth0', B, 'eth0', '10.77.0.1/24', '10.77.0.2/24');
    aMac = withNetns(A, () => ifaceInfo('eth0').mac);
    bMac = withNetns(B, () => ifaceInfo('eth0').mac);
  });

  afterAll(() => {
    for (const s of open) s.close();
    releaseSendSockets();
    lab.teardown();
  });

  /** `n` members of a new unique CBPF group on B's eth0, in join order, each recording the seqs it receives. */
  function group(n: number, flags = PACKET_FANOUT_FLAG_IGNORE_OUTGOING): { socks: PacketSocket[]; got: Map<number, number[]>; id: number } {
    const socks: PacketSocket[] = [];
    const first = withNetns(B, () => openPacket('eth0', { fanout: { group: 0, mode: PACKET_FANOUT_CBPF, flags: flags | PACKET_FANOUT_FLAG_UNIQUEID } }));
    socks.push(first);
    const info = first.fanoutInfo();
    expect(info).not.toBeNull();
    expect(info!.mode).toBe(PACKET_FANOUT_CBPF);
    expect(info!.flags).toBe(flags); // UNIQUEID is the first member's alone
    for (let i = 1; i < n; i++) socks.push(withNetns(B, () => openPacket('eth0', { fanout: { group: info!.group, mode: PACKET_FANOUT_CBPF, flags } })));
    open.push(...socks);
    const got = new Map<number, number[]>();
    socks.forEach((s, i) => s.onFrames((off, caplen) => {
      const seq = seqOf(s.rx.u8, off, caplen);
      if (seq < 0) return;
      const l = got.get(seq) ?? [];
      l.push(i);
      got.set(seq, l);
    }));
    return { socks, got, id: info!.group };
  }

  function sendAll(frames: Uint8Array[]): void {
    const tx = withNetns(A, () => openPacket('eth0'));
    try {
      for (const f of frames) {
        f.set(new Uint8Array([...bMac.split(':').map((h) => parseInt(h, 16)), ...aMac.split(':').map((h) => parseInt(h, 16))]), 0);
        while (!tx.tx.push(f)) tx.tx.flush();
      }
      tx.tx.flush();
    } finally {
      setTimeout(() => tx.close(), 200);
    }
  }

  it('every packet of a flow reaches the member workerOfConn names; flows spread over all members', async () => {
    const N = 3;
    const { socks, got } = group(N);
    const { prog, plan } = compileFanout(services, N);
    socks[1]!.setFanoutData(prog); // one program per group, through any member
    const frames: Uint8Array[] = [];
    const want: number[] = [];
    let seq = 0;
    for (let i = 0; i < 120; i++) {
      const c = ipToU32('192.168.7.0') + (i % 40) + 1;
      const cport = 20000 + i * 13;
      const w = workerOfConn(plan, 6, c, cport, VIP, 80);
      const ca = u32ToIp(c);
      // Request, NAT reply, ICMP from the client side about the reply, ICMP from the RS side about the DNATed request.
      frames.push(buildTcpFrame({ src: ca, dst: '10.1.0.100', srcPort: cport, dstPort: 80, flags: 'A', payload: tag(seq++) })); want.push(w);
      frames.push(buildTcpFrame({ src: '10.2.0.11', dst: ca, srcPort: 8080, dstPort: cport, flags: 'A', payload: tag(seq++) })); want.push(w);
      const reply = buildTcpFrame({ src: '10.1.0.100', dst: ca, srcPort: 80, dstPort: cport, flags: 'A' });
      frames.push(buildFrame({ ip: { src: '192.168.7.254', dst: '10.1.0.100' }, icmp: { type: 3, code: 4, mtu: 1400, quote: reply.subarray(14) }, payload: tag(seq++) })); want.push(w);
      const dnat = buildTcpFrame({ src: ca, dst: '10.2.0.11', srcPort: cport, dstPort: 8080, flags: 'A' });
      frames.push(buildFrame({ ip: { src: '10.2.0.1', dst: ca }, icmp: { type: 11, code: 0, quote: dnat.subarray(14) }, payload: tag(seq++) })); want.push(w);
      // UDP of the other service, both ways.
      const uw = workerOfConn(plan, 17, c, cport, VIP, 53);
      frames.push(buildUdpFrame({ src: ca, dst: '10.1.0.100', srcPort: cport, dstPort: 53, payload: tag(seq++) })); want.push(uw);
      frames.push(buildUdpFrame({ src: '10.2.0.12', dst: ca, srcPort: 53, dstPort: cport, payload: tag(seq++) })); want.push(uw);
      // A persistent DR service: the client's /24 decides.
      frames.push(buildTcpFrame({ src: ca, dst: '10.1.0.101', srcPort: cport, dstPort: 443, flags: 'A', payload: tag(seq++) }));
      want.push(workerOfConn(plan, 6, c & 0xffffff00, 0, ipToU32('10.1.0.101'), 443));
      // Not a service: member 0.
      frames.push(buildTcpFrame({ src: ca, dst: '10.1.0.100', srcPort: cport, dstPort: 81, flags: 'A', payload: tag(seq++) })); want.push(0);
    }
    sendAll(frames);
    expect(await waitFor(() => got.size === frames.length, 5000), `${got.size} of ${frames.length} frames arrived`).toBe(true);
    const wrong: string[] = [];
    for (let s = 0; s < frames.length; s++) {
      const members = got.get(s)!;
      if (members.length !== 1 || members[0] !== want[s]) wrong.push(`#${s}: got ${members.join(',')} want ${want[s]}`);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    for (let m = 0; m < N; m++) expect(want.filter((w) => w === m).length).toBeGreaterThan(30);
    for (const s of socks) s.close();
  });

  it('IPv6: every packet of a flow (request, NAT reply, ICMPv6 errors) reaches the member workerOfConn6 names', async () => {
    const N = 3;
    const { socks, got } = group(N);
    const svc6: FanoutService[] = [
      { key: { kind: 'addr', protocol: 'tcp', addr: '2001:db8:1::100', port: 80 }, persistence: 0, netmask: '128', dests: [{ addr: '2001:db8:2::11', port: 8080, fwd: 'masq' }] },
      { key: { kind: 'addr', protocol: 'udp', addr: '2001:db8:1::100', port: 53 }, persistence: 0, netmask: '128', dests: [{ addr: '2001:db8:2::12', port: 53, fwd: 'masq' }] },
      { key: { kind: 'addr', protocol: 'tcp', addr: '2001:db8:1::101', port: 443 }, persistence: 120, netmask: '64', dests: [{ addr: '2001:db8:2::13', port: 443, fwd: 'route' }] },
      ...services,
    ];
    const { prog, plan } = compileFanout(svc6, N);
    socks[0]!.setFanoutData(prog);
    const b6 = (a: string) => parseIpv6(a)!;
    const withTag = (q: Uint8Array, t: Uint8Array) => { const o = new Uint8Array(q.length + t.length); o.set(q); o.set(t, q.length); return o; };
    const frames: Uint8Array[] = [];
    const want: number[] = [];
    let seq = 0;
    for (let i = 0; i < 120; i++) {
      const ca = `2001:db8:7:${(i % 7).toString(16)}::${(i + 1).toString(16)}`;
      const cport = 20000 + i * 13;
      const w = workerOfConn6(plan, 6, b6(ca), cport, b6('2001:db8:1::100'), 80);
      frames.push(buildTcp6Frame({ src: ca, dst: '2001:db8:1::100', srcPort: cport, dstPort: 80, flags: 'A', payload: tag(seq++) })); want.push(w);
      frames.push(buildTcp6Frame({ src: '2001:db8:2::11', dst: ca, srcPort: 8080, dstPort: cport, flags: 'A', payload: tag(seq++) })); want.push(w);
      const reply = buildTcp6Frame({ src: '2001:db8:1::100', dst: ca, srcPort: 80, dstPort: cport, flags: 'A' });
      frames.push(buildIcmp6Frame({ src: '2001:db8:7::fe', dst: '2001:db8:1::100', type: 2, info: 1400, quote: withTag(reply.subarray(14), tag(seq++)) })); want.push(w);
      const dnat = buildTcp6Frame({ src: ca, dst: '2001:db8:2::11', srcPort: cport, dstPort: 8080, flags: 'A' });
      frames.push(buildIcmp6Frame({ src: '2001:db8:2::1', dst: ca, type: 3, quote: withTag(dnat.subarray(14), tag(seq++)) })); want.push(w);
      const uw = workerOfConn6(plan, 17, b6(ca), cport, b6('2001:db8:1::100'), 53);
      frames.push(buildUdp6Frame({ src: ca, dst: '2001:db8:1::100', srcPort: cport, dstPort: 53, payload: tag(seq++) })); want.push(uw);
      frames.push(buildUdp6Frame({ src: '2001:db8:2::12', dst: ca, srcPort: 53, dstPort: cport, payload: tag(seq++) })); want.push(uw);
      // A persistent DR service: the client's /64 decides.
      frames.push(buildTcp6Frame({ src: ca, dst: '2001:db8:1::101', srcPort: cport, dstPort: 443, flags: 'A', payload: tag(seq++) }));
      want.push(workerOfConn6(plan, 6, b6(`2001:db8:7:${(i % 7).toString(16)}::`), 0, b6('2001:db8:1::101'), 443));
      // Not a service, or behind an extension header: member 0.
      frames.push(buildTcp6Frame({ src: ca, dst: '2001:db8:1::100', srcPort: cport, dstPort: 81, flags: 'A', payload: tag(seq++) })); want.push(0);
      frames.push(buildTcp6Frame({ src: ca, dst: '2001:db8:1::100', srcPort: cport, dstPort: 80, flags: 'A', ext: [{ type: 60 }], payload: tag(seq++) })); want.push(0);
    }
    sendAll(frames);
    expect(await waitFor(() => got.size === frames.length, 5000), `${got.size} of ${frames.length} frames arrived`).toBe(true);
    const wrong: string[] = [];
    for (let s = 0; s < frames.length; s++) {
      const members = got.get(s)!;
      if (members.length !== 1 || members[0] !== want[s]) wrong.push(`#${s}: got ${members.join(',')} want ${want[s]}`);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    for (let m = 0; m < N; m++) expect(want.filter((w) => w === m).length).toBeGreaterThan(30);
    for (const s of socks) s.close();
  });

  it('UNIQUEID groups do not collide; IGNORE_OUTGOING keeps frames the host sends out of the group', async () => {
    const g1 = group(2);
    const g2 = group(2, 0); // no IGNORE_OUTGOING: the group's hook sees B's own transmissions
    expect(g2.id).not.toBe(g1.id);
    const { prog } = compileFanout(services, 2);
    g1.socks[0]!.setFanoutData(prog);
    g2.socks[0]!.setFanoutData(prog);
    // B sends (not a qdisc-bypass ring: through the stack's dev_queue_xmit, which taps see).
    const tx = withNetns(B, () => openPacket('eth0', { qdiscBypass: false }));
    try {
      for (let i = 0; i < 20; i++) tx.tx.push(buildTcpFrame({ srcMac: bMac, dstMac: aMac, src: '192.168.7.9', dst: '10.1.0.100', srcPort: 3000 + i, dstPort: 80, payload: tag(100000 + i) }));
      tx.tx.flush();
      expect(await waitFor(() => g2.got.size === 20, 3000)).toBe(true);
      expect(g1.got.size).toBe(0);
    } finally {
      tx.close();
      for (const s of [...g1.socks, ...g2.socks]) s.close();
    }
  });

  it('a worker thread that dies (or exits) with its rings polling leaves the process running', () => {
    // The addon closes the poll handle from an async cleanup hook before the
    // worker's loop goes; without it the process segfaulted (lvsd --workers
    // must outlive a dead worker long enough to remove its nftables table).
    const native = new URL('../../dist/src/io/native.js', import.meta.url).pathname;
    for (const end of ['throw new Error("boom")', 'process.exit(3)']) {
      const script = `
        const { Worker } = require('node:worker_threads');
        const w = new Worker(\`import(${JSON.stringify(native)}).then(({ openPacket }) => {
          const s = openPacket('eth0', { rxBlockSize: 4096, rxBlockCount: 4, fanout: { group: 0, mode: 6, flags: 0x6000 } });
          s.onReadable(() => {});
          setTimeout(() => { ${end}; }, 50);
        });\`, { eval: true });
        w.on('error', (e) => console.log('worker error: ' + e.message));
        w.on('exit', (c) => setTimeout(() => console.log('main alive after worker exit ' + c), 100));`;
      const out = sh('ip', ['netns', 'exec', B, 'node', '-e', script]);
      expect(out).toMatch(/main alive after worker exit [13]/);
    }
  });

  it('a member that leaves is replaced in its slot by the last member', async () => {
    const { socks, got } = group(3);
    const { prog, plan } = compileFanout(services, 3);
    socks[0]!.setFanoutData(prog);
    // Flows the program sends to member 0.
    const flows: [number, number][] = [];
    for (let p = 1024; flows.length < 10; p++) if (workerOfConn(plan, 6, ipToU32('192.168.8.1'), p, VIP, 80) === 0) flows.push([ipToU32('192.168.8.1'), p]);
    socks[0]!.close(); // arr[0] = arr[2]; members 1 and 2 remain, in slots 1 and 0
    sendAll(flows.map(([c, p], i) => buildTcpFrame({ src: u32ToIp(c), dst: '10.1.0.100', srcPort: p, dstPort: 80, flags: 'A', payload: tag(200000 + i) })));
    expect(await waitFor(() => got.size === 10, 3000)).toBe(true);
    // Index 0 of a 3-member program, modulo 2 members: slot 0, now the old member 2.
    expect([...got.values()].map((m) => m.join(','))).toEqual(new Array(10).fill('2'));
    for (const s of socks.slice(1)) s.close();
  });
});
