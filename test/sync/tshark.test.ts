// tshark's IPVS sync dissector (udp.port 8848) as an independent judge of the
// datagrams lvsd's encoder writes: none malformed, every field as sent.
import { describe, expect, it } from 'vitest';
import { buildUdpFrame } from '../packet/build/frame.js';
import { ipToU32, u32ToIp } from '../../src/packet/addr.js';
import { IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_NOOUTPUT, IP_VS_CONN_F_TEMPLATE, SyncEncoder, type SyncConn } from '../../src/sync/message.js';
import { complaints, dissect, findTshark } from '../packet/tshark.js';

const tshark = findTshark();
const inCi = process.env.CI === 'true';

function conns(n: number): SyncConn[] {
  const out: SyncConn[] = [];
  for (let k = 0; k < n; k++) {
    const tpl = k % 7 === 6;
    out.push({
      protocol: k % 5 === 4 ? 17 : 6,
      flags: tpl ? IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT
        : k % 3 === 0 ? IP_VS_CONN_F_MASQ | IP_VS_CONN_F_INACTIVE : IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT,
      state: tpl ? 0 : k % 5 === 4 ? 0 : 1 + (k % 7),
      cport: tpl ? 0 : 30000 + k, vport: 80, dport: 8000 + (k % 3), fwmark: k % 11 === 10 ? 42 : 0,
      timeout: tpl ? 300 : 900 - k, caddr: ipToU32('192.0.2.0') + k, vaddr: ipToU32('10.0.0.100'), daddr: ipToU32('10.0.1.10') + (k % 4),
    });
  }
  return out;
}

describe.skipIf(!tshark && !inCi)('tshark ipvs dissector judges lvsd sync datagrams', () => {
  it('decodes every datagram, none malformed, fields as sent', () => {
    const all = conns(130);
    const enc = new SyncEncoder(42, 1472);
    const msgs: Uint8Array[] = [];
    for (const c of all) { const m = enc.add(c); if (m) msgs.push(m); }
    msgs.push(enc.flush()!);
    expect(msgs.length).toBe(4);
    const frames = msgs.map((m) => buildUdpFrame({ src: '10.0.0.2', dst: '224.0.0.81', srcPort: 40123, dstPort: 8848, ttl: 1, payload: m }));
    const pkts = dissect(frames);
    let k = 0;
    for (const [i, p] of pkts.entries()) {
      expect(complaints(p), `datagram ${i}`).toEqual([]);
      expect(p.text).toMatch(/IP Virtual Services Sync Daemon/);
      expect(p.get('ipvs.syncid')).toBe('42');
      expect(Number(p.get('ipvs.conncount'))).toBe(msgs[i]![4]);
      expect(p.get('ipvs.version')).toBe('1');
      expect(Number(p.get('ipvs.size'))).toBe(msgs[i]!.length);
      const cports = p.all('ipvs.cport').map(Number);
      const caddrs = p.all('ipvs.caddr');
      const daddrs = p.all('ipvs.daddr');
      const timeouts = p.all('ipvs.timeout').map(Number);
      const states = p.all('ipvs.state').map(Number);
      const flags = p.all('ipvs.flags.v1').map(Number);
      const fwmarks = p.all('ipvs.fwmark').map(Number);
      const protos = p.all('ipvs.proto').map(Number);
      expect(cports.length).toBe(msgs[i]![4]);
      for (let j = 0; j < cports.length; j++, k++) {
        const c = all[k]!;
        expect([cports[j], caddrs[j], daddrs[j], timeouts[j], states[j], flags[j], fwmarks[j], protos[j]], `entry ${k}`)
          .toEqual([c.cport, u32ToIp(c.caddr), u32ToIp(c.daddr), c.timeout, c.state, c.flags, c.fwmark, c.protocol]);
      }
    }
    expect(k).toBe(all.length);
  });
});
