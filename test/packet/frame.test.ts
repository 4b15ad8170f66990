import { describe, it, expect } from 'vitest';
import { buildFrame, buildTcpFrame, buildUdpFrame, parseFrame } from './build/frame.js';
import { ipToU32, macToString } from '../../src/packet/addr.js';
import { TCP_SYN, TCP_ACK, TCP_PSH, mssOption } from './build/tcp.js';
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED } from '../../src/packet/icmp.js';
import { IPPROTO_VRRP, routerAlertOption } from '../../src/packet/ipv4.js';
import { buildVrrpFrame } from '../../src/packet/vrrp.js';

function parsed(frame: Uint8Array) {
  const r = parseFrame(frame);
  if (!r.ok) throw new Error(`parse failed: ${r.reason}`);
  return r.value;
}

describe('buildTcpFrame', () => {
  it('defaults to a SYN from 10.0.0.1:40000 to 10.0.0.100:80 with valid checksums', () => {
    const f = buildTcpFrame();
    expect(f.length).toBe(14 + 20 + 20);
    const p = parsed(f);
    expect(p.ip!.src).toBe(ipToU32('10.0.0.1'));
    expect(p.ip!.dst).toBe(ipToU32('10.0.0.100'));
    expect(p.ip!.df).toBe(true);
    expect(p.tcp!.srcPort).toBe(40000);
    expect(p.tcp!.dstPort).toBe(80);
    expect(p.tcp!.flags).toBe(TCP_SYN);
    expect(p.l4ChecksumOk).toBe(true);
    expect(macToString(p.eth.src)).toBe('02:00:00:00:00:01');
  });

  it('carries payload, flags letters, options and a VLAN tag', () => {
    const f = buildTcpFrame({ flags: 'PA', payload: 'GET / HTTP/1.0\r\n\r\n', options: mssOption(1460), vlan: 42, seq: 7, ack: 9 });
    const p = parsed(f);
    expect(p.eth.vlanId).toBe(42);
    expect(p.tcp!.flags).toBe(TCP_PSH | TCP_ACK);
    expect(p.tcp!.headerLen).toBe(24);
    expect(p.tcp!.seq).toBe(7);
    expect(p.tcp!.ack).toBe(9);
    expect(new TextDecoder().decode(p.payload)).toBe('GET / HTTP/1.0\r\n\r\n');
    expect(p.l4ChecksumOk).toBe(true);
  });

  it('reports a corrupted segment as a bad checksum, not as a parse failure', () => {
    const f = buildTcpFrame({ payload: 'x' });
    f[f.length - 1] ^= 0xff;
    expect(parsed(f).l4ChecksumOk).toBe(false);
  });
});

describe('buildUdpFrame', () => {
  it('defaults to 10.0.0.1:40000 → 10.0.0.100:53', () => {
    const p = parsed(buildUdpFrame({ payload: new Uint8Array([1, 2, 3]) }));
    expect(p.udp!.dstPort).toBe(53);
    expect(p.udp!.length).toBe(11);
    expect(p.udp!.checksum).not.toBe(0);
    expect(p.l4ChecksumOk).toBe(true);
    expect([...p.payload]).toEqual([1, 2, 3]);
  });

  it('sends checksum 0 when told to, which still verifies', () => {
    const p = parsed(buildUdpFrame({ checksum: false }));
    expect(p.udp!.checksum).toBe(0);
    expect(p.l4ChecksumOk).toBe(true);
  });
});

describe('buildFrame', () => {
  it('builds ICMP frag-needed quoting an offending packet', () => {
    const offending = buildTcpFrame({ payload: 'y'.repeat(100) }).subarray(14);
    const p = parsed(buildFrame({
      ip: { src: '10.0.0.2', dst: '10.0.0.1' },
      icmp: { type: ICMP_DEST_UNREACH, code: ICMP_FRAG_NEEDED, mtu: 1480, quote: offending },
    }));
    expect(p.icmp!.mtu).toBe(1480);
    expect(p.icmp!.payloadLength).toBe(28);
    expect(p.l4ChecksumOk).toBe(true);
  });

  it('builds a raw-protocol payload with IP options', () => {
    const p = parsed(buildFrame({
      ip: { src: '10.0.0.2', dst: '224.0.0.18', protocol: IPPROTO_VRRP, ttl: 255, options: routerAlertOption() },
      payload: new Uint8Array(16),
    }));
    expect(p.ip!.headerLen).toBe(24);
    expect(p.ip!.protocol).toBe(IPPROTO_VRRP);
    expect(p.payload.length).toBe(16);
  });

  it('parses VRRP adverts and says why one is not valid', () => {
    const good = parsed(buildVrrpFrame({ version: 3, vrid: 9, priority: 120, addrs: ['10.0.0.100'] }, { src: '10.0.0.2' }));
    expect([good.vrrp?.vrid, good.vrrp?.priority, good.vrrpInvalid]).toEqual([9, 120, undefined]);
    const bad = parsed(buildVrrpFrame({ version: 3, vrid: 9, priority: 120, addrs: ['10.0.0.100'] }, { src: '10.0.0.2', v3ChecksumAsV2: true }));
    expect([bad.vrrp, bad.vrrpInvalid]).toEqual([undefined, 'bad-checksum']);
  });

  it('rejects contradictory specs', () => {
    expect(() => buildFrame({ ip: { src: 1, dst: 2 } })).toThrow(/protocol/);
    expect(() => buildFrame({ ip: { src: 1, dst: 2 }, tcp: { srcPort: 1, dstPort: 2 }, udp: { srcPort: 1, dstPort: 2 } })).toThrow(/at most one/);
  });
});
