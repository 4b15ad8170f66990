// DR (-g) end to end: lvsd in the director namespace, real clients and servers;
// plus what the notes show of DR (connection states), bad input on the live
// forwarder, metrics, and a kill -9 / restart.
import { describe, beforeAll, afterAll, it, expect } from 'vitest';
import { buildModeLab, destroyModeLab, diagnoseOnFailure, forwardingTests, prerequisites, FLAG, type ModeLab } from './forward-suite.js';
import { curlMany, lvsdTables, startLvsd, tally } from '../../lab/director.js';

describe('lvsd forwards: DR', async () => {
  const missing = await prerequisites();
  const skip = missing.length > 0;
  let m: ModeLab | undefined;
  beforeAll(async () => { if (!skip) m = await buildModeLab('dr'); });
  afterAll(async () => { await destroyModeLab(m); });
  forwardingTests(() => m!, skip);

  it.skipIf(skip)('the connection listing shows FIN_WAIT after a closed connection and SYN_RECV when the RS is down', async () => {
    diagnoseOnFailure(() => m);
    const { lab, topo, lvsd, vs } = m!;
    const [rs1, rs2] = topo.rs;
    await m!.rules([['-A', '-t', vs, '-s', 'rr'], ['-a', '-t', vs, '-r', `${rs1!.ip}:80`, '-g']]);
    expect(await curlMany(lab, 'client', m!.url, 1)).toEqual(['from rs1']);
    const fin = (await lvsd.lvsadm(['-Lnc'])).stdout;
    expect(fin).toMatch(new RegExp(`^TCP\\s+\\d\\d:\\d\\d\\s+FIN_WAIT\\s+${topo.client.ip}:\\d+\\s+${vs}\\s+${rs1!.ip}:80`, 'm'));
    // rs2 "down": its host drops everything to port 80, so only the client's SYNs are ever seen.
    await lab.sh('rs2', "nft add table inet down; nft add chain inet down in '{ type filter hook input priority 0; }'; nft add rule inet down in tcp dport 80 drop");
    try {
      await m!.rules([['-A', '-t', vs, '-s', 'rr'], ['-a', '-t', vs, '-r', `${rs2!.ip}:80`, '-g']]);
      const r = await lab.exec('client', ['curl', '-s', '-m', '1', m!.url], { check: false });
      expect(r.code).not.toBe(0);
      const syn = (await lvsd.lvsadm(['-Lnc'])).stdout;
      expect(syn).toMatch(new RegExp(`^TCP\\s+\\d\\d:\\d\\d\\s+SYN_RECV\\s+${topo.client.ip}:\\d+\\s+${vs}\\s+${rs2!.ip}:80`, 'm'));
      const ln = (await lvsd.lvsadm(['-Ln'])).stdout;
      expect(ln).toMatch(new RegExp(`-> ${rs2!.ip}:80\\s+Route\\s+1\\s+0\\s+1\\s*$`, 'm'));
    } finally {
      await lab.sh('rs2', 'nft delete table inet down', { check: false });
    }
  });

  it.skipIf(skip)('a burst of malformed frames is counted by reason and forwarding goes on', async () => {
    diagnoseOnFailure(() => m);
    const { lab, topo, lvsd, vs } = m!;
    await m!.rules([['-A', '-t', vs, '-s', 'rr'], ...topo.rs.map((r) => ['-a', '-t', vs, '-r', `${r.ip}:80`, FLAG.dr])]);
    // A real switch forwards whatever frame it gets; the lab's Linux bridge
    // would run br_netfilter's IP header checks (bridge-nf-call-iptables) and
    // drop bad checksums and lengths before they ever reach the director.
    await lab.sysctl('sw', 'net.bridge.bridge-nf-call-iptables', 0);
    const before = await lvsd.call('get-counters', {});
    const dirMac = JSON.parse((await lab.exec('dir', ['ip', '-j', 'link', 'show', 'eth0'])).stdout)[0].address as string;
    // Raw frames from the client's eth0 at the director's MAC, each kind 50 times.
    const py = `
import socket, struct
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def ip(src, dst, payload, ihl=5, frag=0, tot=None, bad_csum=False, opts=b''):
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, tot if tot is not None else 20 + len(opts) + len(payload), 1, frag, 64, 6, 0,
                    socket.inet_aton(src), socket.inet_aton(dst)) + opts
    c = csum(h)
    if bad_csum: c ^= 0x5555
    return h[:10] + struct.pack('!H', c) + h[12:] + payload
def tcp(sport, dport): return struct.pack('!HHIIBBHHH', sport, dport, 1, 0, 0x50, 0x02, 65535, 0, 0)
cli, vip = '${topo.client.ip}', '${topo.vip}'
dst = bytes.fromhex('${dirMac.replace(/:/g, '')}')
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('eth0', 0))
src = s.getsockname()[4]
eth = dst + src + b'\\x08\\x00'
frames = {
  'bad_ip_checksum': ip(cli, vip, tcp(40001, 80), bad_csum=True),
  'fragment': ip(cli, vip, tcp(40002, 80), frag=0x2000),
  'ip_options': ip(cli, vip, tcp(40003, 80), ihl=6, opts=b'\\x01\\x01\\x01\\x00'),
  'bad_saddr': ip('224.0.0.9', vip, tcp(40004, 80)),
  'zero_port': ip(cli, vip, tcp(0, 80)),
  'bad_total_length': ip(cli, vip, tcp(40005, 80), tot=12),
  'truncated': ip(cli, vip, tcp(40006, 80))[:30],
}
for i in range(50):
    for f in frames.values(): s.send(eth + f)
print('sent')
`;
    await lab.exec('client', ['python3', '-c', py]);
    // Forwarding goes on.
    const t = tally(await curlMany(lab, 'client', m!.url, 10));
    expect(t).toEqual({ 'from rs1': 5, 'from rs2': 5 });
    const after = await lvsd.call('get-counters', {});
    const deltas: Record<string, number> = {};
    for (const k of Object.keys(after)) if (/^(drop|ignore)_/.test(k) && after[k]! !== (before[k] ?? 0)) deltas[k] = after[k]! - (before[k] ?? 0);
    expect(deltas).toMatchObject({
      drop_bad_ip_checksum: 50, drop_fragment: 50, drop_ip_options: 50, drop_bad_saddr: 50, drop_zero_port: 50, drop_bad_total_length: 50,
    });
    // Cut inside the TCP header: truncated (or foreign junk if the engine cannot tell it was for a VIP), never forwarded.
    expect((deltas.drop_truncated ?? 0) + (deltas.ignore_malformed_foreign ?? 0)).toBeGreaterThanOrEqual(50);
    expect(after.io_engine_errors).toBe(0);
  });

  it.skipIf(skip)('kill -9, then a fresh start: exactly one lvsd table, traffic flows again, metrics served', async () => {
    diagnoseOnFailure(() => m);
    const { lab, topo, vs } = m!;
    await m!.lvsd.kill9();
    // The crashed run's table is still there (its drop rules black-hole the VIP until the next start).
    expect(await lvsdTables(lab, 'dir')).toHaveLength(1);
    const port = 9100 + Math.floor(Math.random() * 800);
    m!.lvsd = await startLvsd(lab, 'dir', { socket: m!.lvsd.socket, args: ['--metrics', `127.0.0.1:${port}`] });
    expect(await lvsdTables(lab, 'dir')).toHaveLength(1);
    await m!.rules([['-A', '-t', vs, '-s', 'rr'], ...topo.rs.map((r) => ['-a', '-t', vs, '-r', `${r.ip}:80`, FLAG.dr])]);
    expect(await lvsdTables(lab, 'dir')).toHaveLength(1);
    const t = tally(await curlMany(lab, 'client', m!.url, 10));
    expect(t).toEqual({ 'from rs1': 5, 'from rs2': 5 });
    const { stdout } = await lab.exec('dir', ['curl', '-s', `http://127.0.0.1:${port}/metrics`]);
    for (const r of topo.rs) {
      expect(stdout).toContain(`lvsd_dest_connections_total{service="TCP ${vs}",dest="${r.ip}:80",fwd="route"} 5`);
    }
    expect(stdout).toMatch(/lvsd_rx_batch_frames_count \d+/);
    // A clean stop takes the table away.
    expect(await m!.lvsd.stop()).toBe(0);
    expect(await lvsdTables(lab, 'dir')).toEqual([]);
    m!.lvsd = await startLvsd(lab, 'dir', { socket: m!.lvsd.socket });
  });
});
