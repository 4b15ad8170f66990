// -S / -R: the saved text restores to the same ruleset and saves to the same
// text again; -R is one atomic `replace`, and a bad line sends nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  SCHEDULERS, type DestSpec, type Ruleset, type SchedFlag, type ServiceRules, type ServiceStatus,
} from '../../src/ipvs/types.js';
import { FMT } from '../../src/lvsadm/args.js';
import { cmpDests, cmpServices, msort } from '../../src/lvsadm/format-list.js';
import { StaticResolver } from '../../src/lvsadm/names.js';
import { parseRestore, saveText } from '../../src/lvsadm/save-restore.js';
import { lvsadm, SERVICES_TEXT, zeroRates, zeroStats } from './helpers.js';
import { TestLvsd } from '../helpers/lvsd-server.js';

const MAX_TIMEOUT = 86400 * 31;

function asStatus(r: Ruleset): ServiceStatus[] {
  return r.services.map((s) => ({
    ...s, stats: zeroStats(), rates: zeroRates(),
    dests: s.dests.map((d) => ({ ...d, activeConns: 0, inactConns: 0, persistConns: 0, stats: zeroStats(), rates: zeroRates() })),
  }));
}

function canonical(r: Ruleset): ServiceRules[] {
  return msort(r.services, cmpServices).map((s) => ({ ...s, dests: msort(s.dests, cmpDests) }));
}

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((a) => a.join('.'));
const mask = fc.integer({ min: 0, max: 31 }).map((p) => {
  const m = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return [m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255].join('.');
});

/** A ruleset in the form ipvsadm can express (and lvsadm parses back to). */
const ruleset: fc.Arbitrary<Ruleset> = fc.array(
  fc.record({
    key: fc.oneof(
      fc.record({ kind: fc.constant('addr' as const), protocol: fc.constantFrom('tcp' as const, 'udp' as const, 'sctp' as const), addr: ipv4, port: fc.integer({ min: 0, max: 65535 }) }),
      fc.record({ kind: fc.constant('fwmark' as const), fwmark: fc.integer({ min: 1, max: 0xffffffff }) }),
    ),
    scheduler: fc.constantFrom(...SCHEDULERS),
    persistence: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: MAX_TIMEOUT })),
    netmask: mask,
    ops: fc.boolean(),
    flagBits: fc.subarray([1, 2, 3]),
    pe: fc.option(fc.constant('sip'), { nil: undefined }),
    dests: fc.array(fc.record({
      addr: ipv4, port: fc.integer({ min: 0, max: 65535 }),
      fwd: fc.constantFrom('masq' as const, 'route' as const, 'tunnel' as const),
      weight: fc.integer({ min: 0, max: 65535 }),
      tunType: fc.constantFrom('ipip' as const, 'gue' as const, 'gre' as const),
      tunPort: fc.integer({ min: 1, max: 65535 }),
      tunCsum: fc.constantFrom('nocsum' as const, 'csum' as const, 'remcsum' as const),
    }), { maxLength: 4 }),
  }),
  { maxLength: 6 },
).map((raw) => {
  const services: ServiceRules[] = [];
  const keys = new Set<string>();
  for (const r of raw) {
    const key = r.key;
    const fwmark = key.kind === 'fwmark';
    const port = key.kind === 'addr' ? key.port : 0;
    const persistence = !fwmark && port === 0 && r.persistence === 0 ? 360 : r.persistence;
    const id = JSON.stringify(key);
    if (keys.has(id)) continue;
    keys.add(id);
    // sh and mh print only their two named flags, so flag-3 cannot be saved for them.
    const names: SchedFlag[] = r.scheduler === 'sh' ? ['sh-fallback', 'sh-port'] : r.scheduler === 'mh' ? ['mh-fallback', 'mh-port'] : ['flag-1', 'flag-2', 'flag-3'];
    const schedFlags = r.flagBits.filter((b) => b <= names.length).sort().map((b) => names[b - 1]!);
    const dests: DestSpec[] = [];
    const dkeys = new Set<string>();
    for (const d of r.dests) {
      const dport = !fwmark && d.fwd !== 'masq' ? port : d.port;
      if (dkeys.has(`${d.addr}:${dport}`)) continue;
      dkeys.add(`${d.addr}:${dport}`);
      const spec: DestSpec = { addr: d.addr, port: dport, fwd: d.fwd, weight: d.weight, uThreshold: 0, lThreshold: 0 };
      if (d.fwd === 'tunnel') {
        spec.tunType = d.tunType;
        if (d.tunType === 'gue') spec.tunPort = d.tunPort;
        if (d.tunType !== 'ipip') spec.tunCsum = d.tunType === 'gre' && d.tunCsum === 'remcsum' ? 'csum' : d.tunCsum;
      }
      dests.push(spec);
    }
    const s: ServiceRules = {
      key, scheduler: r.scheduler, persistence,
      netmask: persistence > 0 ? r.netmask : '255.255.255.255',
      ops: r.ops && (fwmark || key.protocol === 'udp'), schedFlags, dests,
    };
    if (r.pe) s.pe = r.pe;
    services.push(s);
  }
  return { services };
});

const NAMED = new StaticResolver(SERVICES_TEXT, { 'web.example': '10.0.0.80', 'db.example': '10.0.0.53' }, { '10.0.0.80': 'web.example', '10.0.0.53': 'db.example' });

/**
 * ipvsadm's comparators subtract u32s into an int, so once two marks or
 * addresses are 2^31 or more apart the order is not transitive and sorting
 * an already sorted list can move entries. Inside half the space it is a
 * total order and -S output is a fixed point.
 */
function transitive(r: Ruleset): boolean {
  const nums = r.services.map((s) => (s.key.kind === 'fwmark' ? s.key.fwmark : 0));
  const addrs = r.services.flatMap((s) => (s.key.kind === 'addr' ? [ipU32(s.key.addr)] : []));
  const spread = (xs: number[]) => (xs.length ? Math.max(...xs) - Math.min(...xs) : 0);
  const destSpread = Math.max(0, ...r.services.map((s) => spread(s.dests.map((d) => ipU32(d.addr)))));
  return spread(nums) < 2 ** 31 && spread(addrs) < 2 ** 31 && destSpread < 2 ** 31;
}
function ipU32(a: string): number { return a.split('.').reduce((v, o) => v * 256 + Number(o), 0); }

describe('-S then -R round-trips', () => {
  it('any ruleset, numeric (-S -n): same rules; same text wherever the sort is a total order', async () => {
    await fc.assert(fc.asyncProperty(ruleset, async (r) => {
      const text = saveText(asStatus(r), FMT.NUMERIC, null);
      const back = await parseRestore(text, new StaticResolver(''));
      // Restoring keeps the saved order, which is ipvsadm's sort of the rules.
      expect(back.services).toEqual(canonical(r));
      const again = saveText(asStatus(back), FMT.NUMERIC, null);
      if (transitive(r)) expect(again).toBe(text);
      else expect(again.split('\n').sort()).toEqual(text.split('\n').sort());
    }), { numRuns: 300 });
  });

  it('text is a fixed point for rulesets within half the address and mark space', async () => {
    const half = ruleset.filter(transitive);
    await fc.assert(fc.asyncProperty(half, async (r) => {
      const text = saveText(asStatus(r), FMT.NUMERIC, null);
      const back = await parseRestore(text, new StaticResolver(''));
      expect(saveText(asStatus(back), FMT.NUMERIC, null)).toBe(text);
    }), { numRuns: 200 });
  });

  it('any ruleset with names (-S without -n, names resolved both ways)', async () => {
    const named = ruleset.map((r) => ({
      services: r.services.map((s, i): ServiceRules => {
        const k = s.key;
        if (i % 2 !== 0 || k.kind !== 'addr') return s;
        // Named forms: 10.0.0.80 is web.example, port 80 is http (sctp has no names here).
        const port = k.protocol === 'sctp' ? k.port : 80;
        return {
          ...s, key: { ...k, addr: '10.0.0.80', port },
          dests: s.dests.slice(0, 1).map((d) => ({ ...d, addr: '10.0.0.53', port: d.fwd === 'masq' ? 53 : port })),
        };
      }),
    })).map((r) => {
      const seen = new Set<string>();
      return { services: r.services.filter((s) => { const k = JSON.stringify(s.key); if (seen.has(k)) return false; seen.add(k); return true; }) };
    });
    await fc.assert(fc.asyncProperty(named, async (r) => {
      const text = saveText(asStatus(r), FMT.NONE, NAMED);
      const back = await parseRestore(text, NAMED);
      expect(back.services).toEqual(canonical(r));
      const again = saveText(asStatus(back), FMT.NONE, NAMED);
      if (transitive(r)) expect(again).toBe(text);
      else expect(again.split('\n').sort()).toEqual(text.split('\n').sort());
    }), { numRuns: 100 });
  });

  it('saves the facts file example\'s rules in the order ipvsadm 1.31 sorts them', async () => {
    const svc80: ServiceRules = { key: { kind: 'addr', protocol: 'tcp', addr: '172.17.100.100', port: 80 }, scheduler: 'rr', persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [],
      dests: [{ addr: '172.17.100.1', port: 80, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0 }] };
    const svc8080: ServiceRules = { key: { kind: 'addr', protocol: 'tcp', addr: '10.1.21.161', port: 8080 }, scheduler: 'rr', persistence: 10800, netmask: '255.255.255.255', ops: false, schedFlags: [],
      dests: [{ addr: '10.2.0.10', port: 8080, fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 }] };
    // The facts file lists 10.1.21.161 first, but 172.17.100.100 - 10.1.21.161
    // exceeds INT_MAX, so 1.31's comparator (and the real binary) put 172.17.100.100 first.
    const text =
      '-A -t 172.17.100.100:80 -s rr\n' +
      '-a -t 172.17.100.100:80 -r 172.17.100.1:80 -g -w 1\n' +
      '-A -t 10.1.21.161:8080 -s rr -p 10800\n' +
      '-a -t 10.1.21.161:8080 -r 10.2.0.10:8080 -m -w 1\n';
    expect(saveText(asStatus({ services: [svc8080, svc80] }), FMT.NUMERIC, null)).toBe(text);
    expect(await parseRestore(text, new StaticResolver(''))).toEqual({ services: [svc80, svc8080] });
  });

  it('every -S suffix in ipvsadm\'s order; thresholds are not saved; local saves as -g', () => {
    const s: ServiceStatus[] = asStatus({ services: [
      { key: { kind: 'fwmark', fwmark: 9 }, scheduler: 'mh', persistence: 60, netmask: '255.255.0.0', ops: true, schedFlags: ['mh-port', 'mh-fallback'], pe: 'sip',
        dests: [
          { addr: '10.0.0.4', port: 0, fwd: 'tunnel', tunType: 'gue', tunPort: 6080, tunCsum: 'remcsum', weight: 3, uThreshold: 9, lThreshold: 1 },
          { addr: '10.0.0.3', port: 0, fwd: 'tunnel', tunType: 'gre', tunCsum: 'nocsum', weight: 2, uThreshold: 0, lThreshold: 0 },
          { addr: '10.0.0.2', port: 0, fwd: 'tunnel', tunType: 'ipip', weight: 1, uThreshold: 0, lThreshold: 0 },
          { addr: '10.0.0.1', port: 0, fwd: 'local', weight: 1, uThreshold: 0, lThreshold: 0 },
        ] },
    ] });
    expect(saveText(s, FMT.NUMERIC, null)).toBe(
      '-A -f 9 -s mh -p 60 -M 255.255.0.0 --pe sip -o -b mh-fallback,mh-port\n' +
      '-a -f 9 -r 10.0.0.1:0 -g -w 1\n' +
      '-a -f 9 -r 10.0.0.2:0 -i -w 1 --tun-type ipip\n' +
      '-a -f 9 -r 10.0.0.3:0 -i -w 2 --tun-type gre --tun-nocsum\n' +
      '-a -f 9 -r 10.0.0.4:0 -i -w 3 --tun-type gue --tun-port 6080 --tun-remcsum\n');
  });
});

describe('-R is one atomic replace', () => {
  let lvsd: TestLvsd;
  beforeAll(async () => { lvsd = await TestLvsd.start(); });
  afterAll(async () => { await lvsd.destroy(); });
  const R = (stdin: string) => { lvsd.requests.length = 0; return lvsadm(['-R'], { socket: lvsd.path, stdin }); };

  it('sends the whole ruleset in a single request', async () => {
    const r = await R(
      'ipvsadm -A -t 10.0.0.1:80 -s rr\n' +
      '\n' +
      '# a comment line\n' +
      '-a -t 10.0.0.1:80 -r 10.0.0.2 -m -w 3   # trailing comment\n' +
      '-a -t 10.0.0.1:80 -r 10.0.0.3:8080 -m\n' +
      '-e -t 10.0.0.1:80 -r 10.0.0.3:8080 -m -w 0\n' +
      '-A -u 10.0.0.1:53\n' +
      '-D -u 10.0.0.1:53\n' +
      '-A -f 1 -p\n' +
      '-a -f 1 -r 10.0.0.9\n' +
      '-d -f 1 -r 10.0.0.9:0\n' +
      '-E -f 1 -s sh -b sh-port -p 20\n');
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(lvsd.ops()).toEqual(['replace']);
    expect(lvsd.requests[0]!.args).toEqual({ ruleset: { services: [
      { key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 }, scheduler: 'rr', persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [],
        dests: [
          { addr: '10.0.0.2', port: 80, fwd: 'masq', weight: 3, uThreshold: 0, lThreshold: 0 },
          { addr: '10.0.0.3', port: 8080, fwd: 'masq', weight: 0, uThreshold: 0, lThreshold: 0 },
        ] },
      { key: { kind: 'fwmark', fwmark: 1 }, scheduler: 'sh', persistence: 20, netmask: '255.255.255.255', ops: false, schedFlags: ['sh-port'], dests: [] },
    ] } });
  });

  it('-C in the input empties what came before; empty input replaces with nothing', async () => {
    await R('-A -t 10.0.0.1:80\n-C\n-A -t 10.0.0.2:80\n');
    expect(lvsd.requests[0]!.args.ruleset.services.map((s: ServiceRules) => s.key)).toEqual([{ kind: 'addr', protocol: 'tcp', addr: '10.0.0.2', port: 80 }]);
    expect(await R('')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(lvsd.requests).toEqual([expect.objectContaining({ op: 'replace', args: { ruleset: { services: [] } } })]);
  });

  const BAD: Array<[string, string, number]> = [
    ['-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -w 70000\n', "lvsadm -R: line 2: illegal weight specified (nothing restored)\n", 2],
    ['-A -t 10.0.0.1:80\n\n-A -t 10.0.0.1:80\n', 'lvsadm -R: line 3: Service already exists (nothing restored)\n', 255],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2\n', 'lvsadm -R: line 1: Service not defined (nothing restored)\n', 255],
    ['-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2\n-a -t 10.0.0.1:80 -r 10.0.0.2:80\n', 'lvsadm -R: line 3: Destination already exists (nothing restored)\n', 255],
    ['-A -t 10.0.0.1:80\n-e -t 10.0.0.1:80 -r 10.0.0.2\n', 'lvsadm -R: line 2: No such destination (nothing restored)\n', 255],
    ['-E -t 10.0.0.1:80\n', 'lvsadm -R: line 1: No such service (nothing restored)\n', 255],
    ['-D -f 3\n', 'lvsadm -R: line 1: No such service (nothing restored)\n', 255],
    ['-A -t 10.0.0.1:80 -s nosuch\n', 'lvsadm -R: line 1: Scheduler or persistence engine not found (nothing restored)\n', 255],
    ['-A -t 10.0.0.1:80 --pe nosuch\n', 'lvsadm -R: line 1: Scheduler or persistence engine not found (nothing restored)\n', 255],
    ['-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -x 5 -y 6\n', 'lvsadm -R: line 2: Numerical result out of range (nothing restored)\n', 255],
    ['-A -t 10.0.0.1:80\n-A --bogus\n', 'lvsadm -R: line 2: --bogus: unknown option (nothing restored)\n', 255],
    ['-A -t 10.0.0.1:80\n-R\n', "lvsadm -R: line 2: Try `lvsadm -h' or 'lvsadm --help' for more information. (nothing restored)\n", 255],
    ['-L -n\n', 'lvsadm -R: line 1: only rule commands can be restored (-A -E -D -a -e -d -C) (nothing restored)\n', 255],
    ['-A -t 10.0.0.1:80\n--set 1 2 3\n', 'lvsadm -R: line 2: only rule commands can be restored (-A -E -D -a -e -d -C) (nothing restored)\n', 255],
  ];
  it.each(BAD)('a bad line rejects everything: %j', async (stdin, stderr, code) => {
    expect(await R(stdin)).toEqual({ code, stdout: '', stderr });
    expect(lvsd.requests).toEqual([]);
  });

  it('lvsd refusing the replace is reported and exits 255', async () => {
    const restore = lvsd.override('replace', () => { throw Object.assign(new Error('dest 10.0.0.2:80 is not reachable'), { code: 'EINVAL' }); });
    try {
      const r = await R('-A -t 10.0.0.1:80\n');
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/^lvsadm -R: lvsd refused the ruleset: .* \(nothing restored\)\n$/);
    } finally {
      restore();
    }
  });
});
