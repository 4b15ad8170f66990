// The end-to-end checks every forwarding method must pass, run by
// forward-dr / forward-nat / forward-tun.test.ts against a real lvsd in a
// namespace lab: real curl clients, real kernel TCP stacks on the real servers.
import { expect, it, onTestFailed } from 'vitest';
import { join } from 'node:path';
import { Lab, missingPrerequisites, waitFor } from '../../lab/netns.js';
import { buildLan, buildNat, type BuildOptions, type Topology } from '../../lab/topology.js';
import { RS_DIR } from '../../lab/paths.js';
import { curlMany, startLvsd, tally, removeLabSockets, type Lvsd, type StartLvsdOptions } from '../../lab/director.js';
import { waitListening } from '../../lab/topology.js';
import { hashSinkScript } from '../../lab/py.js';

export type Mode = 'dr' | 'nat' | 'tun';
export const FLAG: Record<Mode, string> = { dr: '-g', nat: '-m', tun: '-i' };

export interface ModeLab {
  lab: Lab;
  topo: Topology;
  lvsd: Lvsd;
  mode: Mode;
  vs: string;
  url: string;
  /** Applies an ipvsadm-style rule set through lvsadm (-C first). */
  rules(lines: string[][]): Promise<void>;
}

export async function prerequisites(extra: string[] = []): Promise<string[]> {
  const missing = await missingPrerequisites(['ip', 'nft', 'curl', 'ethtool', 'python3', ...extra]);
  if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);
  return missing;
}

/** `prepare`: runs on the built topology before lvsd starts (e.g. a link MTU lvsd sizes its rings from). */
export async function buildModeLab(mode: Mode, lvsdOpts: StartLvsdOptions = {}, prepare?: (lab: Lab, topo: Topology) => Promise<void>, tag = `f${mode}`,
  build: BuildOptions = {}): Promise<ModeLab> {
  const lab = new Lab(tag);
  try {
    // veth defaults (TSO/GSO on): the client and the real servers hand the
    // director 64 KiB super-frames, as on any container host.
    const topo = mode === 'nat' ? await buildNat(lab, build) : await buildLan(lab, mode, build);
    if (prepare) await prepare(lab, topo);
    const lvsd = await startLvsd(lab, 'dir', lvsdOpts);
    const vs = `${topo.vip}:80`;
    const rules = async (lines: string[][]) => {
      await lvsd.lvsadm(['-C']);
      for (const l of lines) await lvsd.lvsadm(l);
    };
    return { lab, topo, lvsd, mode, vs, url: `http://${topo.vip}/`, rules };
  } catch (e) {
    await lab.destroy();
    removeLabSockets(lab);
    throw e;
  }
}

export async function destroyModeLab(m: ModeLab | undefined): Promise<void> {
  if (!m) return;
  try { await m.lvsd.stop(); } finally {
    await m.lab.destroy();
    removeLabSockets(m.lab);
  }
}

function rsLines(m: ModeLab, weights: number[] = [1, 1], port = 80, proto = '-t'): string[][] {
  return m.topo.rs.map((r, i) => ['-a', proto, `${m.topo.vip}:${port}`, '-r', `${r.ip}:${port}`, FLAG[m.mode], '-w', String(weights[i] ?? 1)]);
}

async function destStatus(m: ModeLab): Promise<{ addr: string; activeConns: number; inactConns: number }[]> {
  const [svc] = await m.lvsd.call('list-services', { key: { kind: 'addr', protocol: 'tcp', addr: m.topo.vip, port: 80 } });
  return svc!.dests;
}

/**
 * On a failure, print what explains it: lvsd's counters and last log lines,
 * the director's neighbour table, and whether the RS helpers still run.
 */
export function diagnoseOnFailure(get: () => ModeLab | undefined): void {
  onTestFailed(async () => {
    const m = get();
    if (!m) return;
    const parts: string[] = [];
    try {
      const c = await m.lvsd.call('get-counters', {});
      parts.push(`counters: ${JSON.stringify(Object.fromEntries(Object.entries(c).filter(([, v]) => v)))}`);
    } catch (e) { parts.push(`counters: ${String(e)}`); }
    parts.push(`lvsd output (tail): ${m.lvsd.proc.output().slice(-2000)}`);
    parts.push(`dir neigh: ${(await m.lab.exec('dir', ['ip', 'neigh', 'show'], { check: false })).stdout}`);
    for (const r of m.topo.rs) parts.push(`${r.name} processes: ${(await m.lab.exec(r.name, ['ps', '-o', 'pid,args', '--no-headers', '-e'], { check: false })).stdout.split('\n').filter((l) => /httpd|ipip|python/.test(l)).join(' | ')}`);
    process.stderr.write(`--- ${m.mode} diagnostics ---\n${parts.join('\n')}\n`);
  });
}

/** Registers the shared tests; `get` returns the lab built in beforeAll. */
export function forwardingTests(get: () => ModeLab, skip: boolean): void {
  const test = (name: string, fn: () => Promise<void>) => it.skipIf(skip)(name, async () => { diagnoseOnFailure(get); await fn(); });
  test('rr: 100 requests to the VIP reach both real servers 50/50', async () => {
    const m = get();
    await m.rules([['-A', '-t', m.vs, '-s', 'rr'], ...rsLines(m)]);
    const t = tally(await curlMany(m.lab, 'client', m.url, 100));
    expect(t).toEqual({ 'from rs1': 50, 'from rs2': 50 });
    const ln = (await m.lvsd.lvsadm(['-Ln'])).stdout;
    expect(ln).toContain(`TCP  ${m.vs} rr`);
    expect(ln).toMatch(new RegExp(`-> ${m.topo.rs[0]!.ip.replace(/\./g, '\\.')}:80\\s+${{ dr: 'Route', nat: 'Masq', tun: 'Tunnel' }[m.mode]}\\s+1`));
  });

  test('wrr: 3:1 weights give 75/25', async () => {
    const m = get();
    await m.rules([['-A', '-t', m.vs, '-s', 'wrr'], ...rsLines(m, [3, 1])]);
    const t = tally(await curlMany(m.lab, 'client', m.url, 100));
    expect(t).toEqual({ 'from rs1': 75, 'from rs2': 25 });
  });

  test('lc: new connections go to the idle server while one holds a slow request', async () => {
    const m = get();
    await m.rules([['-A', '-t', m.vs, '-s', 'lc'], ...rsLines(m)]);
    const slow = m.lab.spawn('client', ['curl', '-s', '-m', '20', `${m.url}slow?ms=6000`]);
    const busy = await waitFor(async () => (await destStatus(m)).find((d) => d.activeConns === 1), 5000, 50, 'an active conn');
    const idle = m.topo.rs.find((r) => r.ip !== busy!.addr)!;
    const t = tally(await curlMany(m.lab, 'client', m.url, 20));
    expect(t).toEqual({ [`from ${idle.name}`]: 20 });
    slow.kill('SIGKILL');
  });

  test('persistence (-p): one client stays on one real server', async () => {
    const m = get();
    await m.rules([['-A', '-t', m.vs, '-s', 'rr', '-p', '60'], ...rsLines(m)]);
    const t = tally(await curlMany(m.lab, 'client', m.url, 20));
    expect(Object.values(t)).toEqual([20]);
    const c = (await m.lvsd.lvsadm(['-Lnc'])).stdout;
    expect(c).toMatch(new RegExp(`NONE\\s+${m.topo.client.ip.replace(/\./g, '\\.')}:0\\s+`));
  });

  test('weight 0 keeps an open keep-alive connection working; new ones go elsewhere', async () => {
    const m = get();
    await m.rules([['-A', '-t', m.vs, '-s', 'rr'], ...rsLines(m)]);
    // One keep-alive connection: a request, a pause (the test quiesces its server), a second request on the same socket.
    const script = `
      const http = require('http');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = () => new Promise((res, rej) => http.get('${m.url}', { agent }, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => res([b.trim(), r.req.reusedSocket])); }).on('error', rej));
      (async () => { console.log(JSON.stringify(await get())); await new Promise((r) => setTimeout(r, 2500)); console.log(JSON.stringify(await get())); process.exit(0); })();`;
    const ka = m.lab.spawn('client', ['node', '-e', script]);
    const first = await waitFor(() => ka.output().split('\n').filter(Boolean)[0], 5000, 20, 'first keep-alive answer');
    const [body] = JSON.parse(first) as [string, boolean];
    const held = m.topo.rs.find((r) => body === `from ${r.name}`)!;
    const other = m.topo.rs.find((r) => r !== held)!;
    await m.lvsd.lvsadm(['-e', '-t', m.vs, '-r', `${held.ip}:80`, FLAG[m.mode], '-w', '0']);
    const t = tally(await curlMany(m.lab, 'client', m.url, 10));
    expect(t).toEqual({ [`from ${other.name}`]: 10 });
    await ka.exited;
    const second = JSON.parse(ka.output().split('\n').filter(Boolean)[1]!) as [string, boolean];
    expect(second).toEqual([`from ${held.name}`, true]);
  });

  test('deleting a real server stops new connections to it', async () => {
    const m = get();
    await m.rules([['-A', '-t', m.vs, '-s', 'rr'], ...rsLines(m)]);
    await m.lvsd.lvsadm(['-d', '-t', m.vs, '-r', `${m.topo.rs[0]!.ip}:80`]);
    const t = tally(await curlMany(m.lab, 'client', m.url, 10));
    expect(t).toEqual({ 'from rs2': 10 });
  });

  test('a 20 MB download through the VIP arrives intact', async () => {
    const m = get();
    await m.rules([['-A', '-t', m.vs, '-s', 'rr'], ...rsLines(m)]);
    const size = 20 * 1024 * 1024;
    const { stdout } = await m.lab.sh('client', `curl -s -m 60 '${m.url}big?size=${size}' | sha256sum`, { timeoutMs: 70_000 });
    expect(stdout.split(' ')[0]).toBe(await bigSha(m.lab, size));
  });

  test('bulk TCP with offloads on: 20 MB each way arrives intact, as super-frames, and lvsd stays up', async () => {
    const m = get();
    const { lab, topo } = m;
    const off = (await lab.exec('client', ['ethtool', '-k', 'eth0'])).stdout;
    expect(off).toMatch(/^tcp-segmentation-offload: on/m);
    const before = await m.lvsd.call('get-counters', {});
    // Upload: a sink on rs1:9000 hashes everything until EOF and answers with the hash.
    const rs1 = topo.rs[0]!;
    const sink = hashSinkScript(9000);
    const sinkProc = lab.spawn(rs1.name, ['python3', '-c', sink]);
    try {
      await waitListening(lab, rs1.name, 9000);
      await m.rules([
        ['-A', '-t', m.vs, '-s', 'rr'], ...rsLines(m),
        ['-A', '-t', `${topo.vip}:9000`, '-s', 'rr'], ['-a', '-t', `${topo.vip}:9000`, '-r', `${rs1.ip}:9000`, FLAG[m.mode]],
      ]);
      const size = 20 * 1024 * 1024;
      const { stdout: dl } = await lab.sh('client', `curl -s -m 60 '${m.url}big?size=${size}' | sha256sum`, { timeoutMs: 70_000 });
      expect(dl.split(' ')[0]).toBe(await bigSha(lab, size));
      const send = `
import hashlib, random, socket
data = random.Random(7).randbytes(20 * 1024 * 1024)
c = socket.socket()
# TUN: segments that fit the tunnel from the start, as a TUN deployment
# clamps the MSS (forward-tun runs --tun-mtu 1400); otherwise the first full-size non-GSO segment earns ICMP
# frag-needed (right, and tested in forward-tun) and the lowered path MTU
# would outlive this test. The super-frames still exceed any MTU.
if ${m.mode === 'tun' ? 'True' : 'False'}: c.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1300)
c.settimeout(30); c.connect(('${topo.vip}', 9000)); c.sendall(data); c.shutdown(socket.SHUT_WR)
print('%d %s' % (len(data), hashlib.sha256(data).hexdigest())); print(c.makefile().readline().strip())
`;
      const { stdout } = await lab.exec('client', ['python3', '-c', send], { timeoutMs: 60_000 });
      const [sent, got] = stdout.trim().split('\n');
      expect(got).toBe(sent);
    } finally {
      sinkProc.kill('SIGKILL');
    }
    const after = await m.lvsd.call('get-counters', {});
    const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    // The client's TSO frames reached lvsd as super-frames and left as super-frames (NAT, DR) or as IPIP segments (TUN).
    expect(d('io_gso_rx')).toBeGreaterThan(0);
    expect(d(m.mode === 'tun' ? 'io_gso_segmented' : 'io_gso_sent')).toBeGreaterThan(0);
    for (const k of ['io_drop_fault', 'io_engine_errors', 'io_drop_bad_frame', 'io_drop_gso_unsupported', 'io_drop_gso_send']) expect(d(k), k).toBe(0);
    // Nothing this suite sends is a flood: SYN shedding (src/io/syn-shed.ts) never came on since lvsd started.
    expect(after.io_syn_shed_ticks ?? 0, 'ticks spent shedding SYNs').toBe(0);
    expect(after.io_syn_shed_accept_permille ?? 1000).toBe(1000);
    expect(m.lvsd.proc.child.exitCode).toBeNull();
  });

  test('a UDP service works (echo on 5353)', async () => {
    const m = get();
    await m.rules([['-A', '-u', `${m.topo.vip}:5353`, '-s', 'rr'], ...rsLines(m, [1, 1], 5353, '-u')]);
    const py = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
for i in range(4):
    s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s2.settimeout(2)
    s2.sendto(b"hello%d" % i, ("${m.topo.vip}", 5353))
    d, a = s2.recvfrom(2000)
    print(a[0], d.decode())
`;
    const { stdout } = await m.lab.exec('client', ['python3', '-c', py]);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    // NAT replies pass lvsd and leave from the VIP. In DR/TUN the RS answers
    // directly, and the lab's echo (bound to 0.0.0.0) answers from its own
    // address, not the VIP: that is the RS application's choice, not lvsd's.
    const from = m.mode === 'nat' ? [m.topo.vip] : [m.topo.vip, ...m.topo.rs.map((r) => r.ip)];
    for (const l of lines) {
      expect(l).toMatch(/^\S+ from rs[12]: hello\d$/);
      expect(from).toContain(l.split(' ')[0]);
    }
    expect(new Set(lines.map((l) => l.split(' ')[2]))).toEqual(new Set(['rs1:', 'rs2:']));
  });
}

const shaCache = new Map<number, string>();
/**
 * sha256 of the RS's /big body by httpd.mjs's own bigBodySha256, in a child
 * inside the lab's client namespace (importing httpd.mjs starts a server: it
 * listens on 127.0.0.1 port 0 there for the instant it takes).
 */
export async function bigSha(lab: Lab, size: number): Promise<string> {
  const hit = shaCache.get(size);
  if (hit) return hit;
  const code = `const m = await import(${JSON.stringify(join(RS_DIR, 'httpd.mjs'))}); console.log(m.bigBodySha256(${size})); process.exit(0);`;
  const { stdout } = await lab.exec('client', ['node', '--input-type=module', '-e', code, '_', 'sha', '--port', '0', '--bind', '127.0.0.1']);
  const sha = stdout.trim().split('\n').pop()!;
  shaCache.set(size, sha);
  return sha;
}
