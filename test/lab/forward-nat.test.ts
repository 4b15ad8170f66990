// NAT (-m) end to end: lvsd on a two-legged director, real servers behind it
// with the director as their gateway; bulk data both ways.
import { describe, beforeAll, afterAll, it, expect } from 'vitest';
import { buildModeLab, destroyModeLab, diagnoseOnFailure, forwardingTests, prerequisites, type ModeLab } from './forward-suite.js';
import { waitListening } from '../../lab/topology.js';
import { hashSinkScript } from '../../lab/py.js';

describe('lvsd forwards: NAT', async () => {
  const missing = await prerequisites();
  const skip = missing.length > 0;
  let m: ModeLab | undefined;
  beforeAll(async () => { if (!skip) m = await buildModeLab('nat'); });
  afterAll(async () => { await destroyModeLab(m); });
  forwardingTests(() => m!, skip);

  it.skipIf(skip)('a 20 MB upload through the VIP arrives intact (client → RS through DNAT, the hash back through SNAT)', async () => {
    diagnoseOnFailure(() => m);
    const { lab, topo } = m!;
    const rs1 = topo.rs[0]!;
    // A sink on rs1:9000 that hashes everything until EOF and answers with the hash.
    const sink = hashSinkScript(9000);
    lab.spawn(rs1.name, ['python3', '-c', sink]);
    await waitListening(lab, rs1.name, 9000);
    await m!.rules([['-A', '-t', `${topo.vip}:9000`, '-s', 'rr'], ['-a', '-t', `${topo.vip}:9000`, '-r', `${rs1.ip}:9000`, '-m']]);
    const send = `
import hashlib, random, socket
data = random.Random(7).randbytes(20 * 1024 * 1024)
c = socket.create_connection(('${topo.vip}', 9000), timeout=30); c.sendall(data); c.shutdown(socket.SHUT_WR)
print('%d %s' % (len(data), hashlib.sha256(data).hexdigest())); print(c.makefile().readline().strip())
`;
    const { stdout } = await lab.exec('client', ['python3', '-c', send], { timeoutMs: 60_000 });
    const [sent, got] = stdout.trim().split('\n');
    expect(got).toBe(sent);
  });

  it.skipIf(skip)("the director's own connections to a NAT real server still work (health checks are not intercepted)", async () => {
    diagnoseOnFailure(() => m);
    const { lab, topo, vs } = m!;
    await m!.rules([['-A', '-t', vs, '-s', 'rr'], ...topo.rs.map((r) => ['-a', '-t', vs, '-r', `${r.ip}:80`, '-m'])]);
    for (const r of topo.rs) {
      const { stdout } = await lab.exec('dir', ['curl', '-s', '-m', '3', `http://${r.ip}/`]);
      expect(stdout).toBe(`from ${r.name}\n`);
    }
  });
});
