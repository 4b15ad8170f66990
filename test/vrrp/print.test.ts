// keepalived's dump files as keepalived_exporter (github.com/mehdy/keepalived-exporter,
// internal/collector/parser.go) reads them. The readers below restate that
// exporter's rules (indentation, "Key = value" / "Key: value", which keys it
// takes); a dump they misread would break existing dashboards.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { emptyBadCounters } from '../../src/vrrp/validate.js';
import { formatData, formatStats, type DumpSource } from '../../src/vrrp/print.js';
import { formatJson } from '../../src/vrrp/json.js';
import type { InstanceMetrics } from '../../src/vrrp/scheduler.js';
import { SIGNUMS } from '../../src/keepalived/options.js';

const STATES = ['INIT', 'BACKUP', 'MASTER', 'FAULT'];

/** The exporter's keepalived.data reader: instances keyed by name. */
function exporterData(text: string) {
  const data: Record<string, { state?: number; wantstate?: number; intf?: string; garpDelay?: number; vrid?: number; vips: string[] }> = {};
  let inst = '';
  let key = '';
  for (const l of text.split('\n')) {
    if (l.startsWith(' VRRP Instance') && l.includes('=')) {
      inst = l.trim().split('=')[1]!.trim();
      data[inst] = { vips: [] };
    } else if (l.startsWith('   ') && inst) {
      let val: string;
      if (l.startsWith('     ')) val = l.trim();
      else {
        const sep = l.includes('=') ? '=' : l.includes(':') ? ':' : undefined;
        if (!sep) continue;
        const parts = l.trim().split(sep);
        key = parts[0]!.trim();
        if (key === 'Virtual IP') continue;
        val = parts[1]!.trim();
      }
      const d = data[inst]!;
      if ((key.startsWith('Virtual IP (') || key === 'Virtual IP') && val) d.vips.push(val);
      const num = (v: string) => { const n = Number(v); if (!Number.isInteger(n)) throw new Error(`exporter: ${key} = ${v} is not an integer`); return n; };
      const st = (v: string) => { const i = STATES.indexOf(v); if (i < 0) throw new Error(`exporter: unknown state ${v}`); return i; };
      if (key === 'State') d.state = st(val);
      else if (key === 'Wantstate') d.wantstate = st(val);
      else if (key === 'Interface' || key === 'Listening device') d.intf = val;
      else if (key === 'Gratuitous ARP delay') d.garpDelay = num(val);
      else if (key === 'Virtual Router ID') d.vrid = num(val);
    } else if (l.startsWith(' VRRP Version') || l.startsWith(' VRRP Script')) continue;
    else inst = '';
  }
  return data;
}

/** The exporter's script reader over keepalived.data. */
function exporterScripts(text: string) {
  const out: { name: string; status?: string; state?: string }[] = [];
  let cur: { name: string; status?: string; state?: string } | undefined;
  for (const l of text.split('\n')) {
    if (l.startsWith(' VRRP Script') && l.includes('=')) {
      if (cur) out.push(cur);
      cur = { name: l.trim().split('=')[1]!.trim() };
    } else if (l.startsWith('   ') && cur) {
      if (!l.includes('=')) continue;
      const [k, v] = l.trim().split('=').map((x) => x.trim());
      if (k === 'Status') cur.status = v;
      if (k === 'State') cur.state = v;
    } else if (!l.startsWith('    ') && cur) { out.push(cur); cur = undefined; }
  }
  if (cur) out.push(cur);
  return out;
}

/** The exporter's keepalived.stats reader (every value must be an integer, or it gives up). */
function exporterStats(text: string) {
  const stats: Record<string, Record<string, number>> = {};
  let inst = '';
  let section = '';
  for (const l of text.split('\n')) {
    if (l.startsWith('VRRP Instance') && l.includes(':')) { inst = l.trim().split(':')[1]!.trim(); stats[inst] = {}; }
    else if (l.startsWith('  ') && l.endsWith(':')) section = l.trim().split(':')[0]!.trim();
    else if (l.startsWith('    ') && section) {
      const [k, v] = l.trim().split(':').map((x) => x.trim());
      if (!/^-?\d+$/.test(v!)) throw new Error(`exporter: ${k}: ${v} is not an integer`);
      stats[inst]![`${section}/${k}`] = Number(v);
    } else if (l.startsWith('  ') && !l.endsWith(':') && !l.startsWith('    ')) {
      const [k, v] = l.trim().split(':').map((x) => x.trim());
      section = '';
      if (!/^-?\d+$/.test(v!)) throw new Error(`exporter: ${k}: ${v} is not an integer`);
      stats[inst]![k!] = Number(v);
    }
  }
  return stats;
}

const CONF = `vrrp_script chk_web {
    script "/usr/local/bin/chk_web"
    interval 2
    weight 20
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.168.150.100/24 dev eth0
        192.168.150.101/32 label eth0:1
    }
    track_script {
        chk_web
    }
}
vrrp_instance VI_2 {
    state MASTER
    interface eth1
    virtual_router_id 52
    priority 150
    version 3
    advert_int 0.5
    virtual_ipaddress {
        10.0.0.1/24
    }
}
`;

function source(): DumpSource {
  const { model } = parseConfigText(CONF, 'k.conf');
  const rt = (name: string, vrid: number, iface: string, state: 'MASTER' | 'BACKUP', n: number): InstanceMetrics => ({
    name, vrid, interface: iface, state, stateCode: STATES.indexOf(state), priority: 100, effectivePriority: 120, transitions: 2,
    becomeMaster: n, releaseMaster: n - 1, advertsSent: 10 * n, advertsReceived: 7 * n, priZeroSent: 1, priZeroReceived: 2,
    badPackets: { ...emptyBadCounters(), 'bad-ttl': 3, 'short': 1, 'bad-length': 1, 'auth-failure': 4 }, faults: [], vipsHeld: state === 'MASTER',
  });
  return {
    model,
    metrics: { instances: [rt('VI_1', 51, 'eth0', 'BACKUP', 1), rt('VI_2', 52, 'eth1', 'MASTER', 3)], unattributed: emptyBadCounters() },
    scripts: [{ name: 'chk_web', ok: true, running: false, runs: 4 }],
  };
}

describe("keepalived's dump files, read by keepalived_exporter's rules", () => {
  it('keepalived.data: instance, state, wantstate, interface, garp delay, vrid and VIPs (ip, dev) as the exporter takes them', () => {
    const text = formatData(source());
    expect(text.startsWith('------< VRRP Topology >------\n VRRP Instance = VI_1\n   VRRP Version = 2\n   State = BACKUP\n')).toBe(true);
    const d = exporterData(text);
    expect(d).toEqual({
      VI_1: { state: 1, wantstate: 1, intf: 'eth0', garpDelay: 5, vrid: 51, vips: ['192.168.150.100/24 dev eth0 scope global', '192.168.150.101/32 dev eth0 scope global label eth0:1'] },
      VI_2: { state: 2, wantstate: 2, intf: 'eth1', garpDelay: 5, vrid: 52, vips: ['10.0.0.1/24 dev eth1 scope global set'] },
    });
    // The exporter's VIP split: field 0 is the address, field 2 the interface.
    for (const v of d.VI_1!.vips) expect(v.split(' ')[2]).toBe('eth0');
    expect(text).toContain('   Advert interval = 500 milli-sec');
    expect(exporterScripts(text)).toEqual([{ name: 'chk_web', status: 'GOOD', state: 'idle' }]);
  });

  it('keepalived.stats: every counter in its section, integers only', () => {
    const s = exporterStats(formatStats(source()));
    expect(s.VI_2).toEqual({
      'Advertisements/Received': 21, 'Advertisements/Sent': 30, 'Became master': 3, 'Released master': 2,
      'Packet Errors/Length': 2, 'Packet Errors/TTL': 3, 'Packet Errors/Invalid Type': 0, 'Packet Errors/Advertisement Interval': 0, 'Packet Errors/Address List': 0,
      'Authentication Errors/Invalid Type': 0, 'Authentication Errors/Type Mismatch': 0, 'Authentication Errors/Failure': 4,
      'Priority Zero/Received': 2, 'Priority Zero/Sent': 1,
    });
    expect(Object.keys(s)).toEqual(['VI_1', 'VI_2']);
  });

  it('keepalived.json: [{data, stats}] with the field names and types the exporter decodes', () => {
    const j = JSON.parse(formatJson(source())) as { data: Record<string, unknown>; stats: Record<string, unknown> }[];
    expect(j).toHaveLength(2);
    const d = j[1]!.data;
    expect({ iname: d.iname, state: d.state, wantstate: d.wantstate, ifp_ifname: d.ifp_ifname, garp_delay: d.garp_delay, vrid: d.vrid, vips: d.vips })
      .toEqual({ iname: 'VI_2', state: 2, wantstate: 2, ifp_ifname: 'eth1', garp_delay: 5, vrid: 52, vips: ['10.0.0.1/24 dev eth1 scope global'] });
    // Go decodes these into int: each must be an integer.
    for (const k of ['state', 'wantstate', 'garp_delay', 'vrid']) expect(Number.isInteger(d[k])).toBe(true);
    expect(j[1]!.stats).toEqual({
      advert_rcvd: 21, advert_sent: 30, become_master: 3, release_master: 2, packet_len_err: 2, advert_interval_err: 0, ip_ttl_err: 3,
      invalid_type_rcvd: 0, addr_list_err: 0, invalid_authtype: 0, authtype_mismatch: 0, auth_failure: 4, pri_zero_rcvd: 2, pri_zero_sent: 1,
    });
  });

  it('the JSON signal (36, SIGRTMIN+2) is caught through the addon instead of killing the process, and --signum=JSON agrees', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvco-sig-'));
    try {
      const main = join(import.meta.dirname, '..', '..', 'dist', 'src', 'keepalived', 'main.js');
      const code = `const m = await import(${JSON.stringify(main)});
        const { writeFileSync } = await import('node:fs');
        m.onJsonSignal(() => { writeFileSync(${JSON.stringify(join(dir, 'got'))}, 'json'); process.exit(0); }, (w) => { console.error(w); process.exit(3); });
        console.log('ready'); setTimeout(() => process.exit(4), 5000);`;
      const p = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      p.stderr.on('data', (b) => { err += b; });
      await new Promise<void>((res) => p.stdout.once('data', () => res()));
      process.kill(p.pid!, SIGNUMS.JSON);
      const [rc, sig] = await new Promise<[number | null, string | null]>((res) => p.once('exit', (c, s) => res([c, s])));
      expect({ rc, sig, err }).toEqual({ rc: 0, sig: null, err: '' });
      expect(readFileSync(join(dir, 'got'), 'utf8')).toBe('json');
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
