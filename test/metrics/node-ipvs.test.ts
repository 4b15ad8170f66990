// node_exporter's ipvs series from a known engine state, read back the way
// Prometheus reads a scrape (the text exposition format: # HELP / # TYPE per
// family, `name{label="value",...} value`), and checked against what
// node_exporter's ipvs collector would expose for the same /proc/net/ip_vs.
import { describe, expect, it } from 'vitest';
import { buildRegistry } from '../../src/metrics/lvsd.js';
import { NODE_IPVS_BACKEND_LABELS } from '../../src/metrics/node-ipvs.js';
import { VERDICT_XMIT } from '../../src/ipvs/engine.js';
import { dest, engine, send, svc, tcp, tcpKey, udp, udpKey, VIP } from '../ipvs/helpers.js';

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Family { help?: string; type?: string; samples: Sample[] }

/** The text format's rules, strictly: a line that is none of comment, HELP, TYPE or a valid sample fails the test. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const fam = (n: string) => { let f = families.get(n); if (!f) families.set(n, f = { samples: [] }); return f; };
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line);
    if (m) { fam(m[1]!).help = m[2]!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'); continue; }
    m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (m) { fam(m[1]!).type = m[2]!; continue; }
    if (line.startsWith('#')) continue;
    m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`).exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"\s*(,|$)/y;
    let at = 0;
    while (at < body.length) {
      LABEL.lastIndex = at;
      const l = LABEL.exec(body);
      if (!l) throw new Error(`bad labels in: ${line}`);
      if (l[1]! in labels) throw new Error(`label ${l[1]} twice in: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
      at = LABEL.lastIndex;
    }
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(v) && m[3] !== 'NaN') throw new Error(`bad value in: ${line}`);
    const base = m[1]!.replace(/_(bucket|sum|count)$/, '');
    (families.has(m[1]!) ? fam(m[1]!) : fam(base)).samples.push({ name: m[1]!, labels, value: v });
  }
  return families;
}

describe('node_exporter ipvs series', () => {
  it('totals and per-backend gauges with node_exporter\'s names, HELP, types and labels, from the engine', async () => {
    const e = engine();
    e.addService(svc(tcpKey(80)));
    e.addDest(tcpKey(80), dest('10.1.0.1', 80, { weight: 3 }));
    e.addDest(tcpKey(80), dest('10.1.0.2', 8080, { fwd: 'masq', weight: 0 }));
    e.addService(svc(udpKey(53)));
    e.addDest(udpKey(53), dest('10.1.0.3', 53, { weight: 2 }));
    e.addService(svc({ kind: 'fwmark', fwmark: 10 }));
    e.addDest({ kind: 'fwmark', fwmark: 10 }, dest('10.1.0.4', 0, { weight: 5 }));
    // Traffic: rr sends the first TCP client to 10.1.0.1 (weight 0 is quiesced), one UDP datagram to 10.1.0.3.
    const syn = tcp({ srcPort: 1000, flags: 'S' });
    const ack = tcp({ srcPort: 1000, flags: 'A', seq: 2, payload: new Uint8Array(10) });
    const dgram = udp({ srcPort: 5353, dstPort: 53, payload: new Uint8Array(20) });
    for (const f of [syn, ack, dgram]) expect(send(e, f).verdict).toBe(VERDICT_XMIT);

    const reg = buildRegistry({
      listServices: () => e.listServices(), engineCounters: () => e.counters(), ioCounters: () => ({}),
      batchSizes: () => ({ bounds: [], counts: [], sum: 0, count: 0 }),
    });
    const fams = parseExposition(await reg.metrics());
    const status = e.listServices();
    const sum = (f: 'conns' | 'inpkts' | 'outpkts' | 'inbytes' | 'outbytes') => status.reduce((a, s) => a + s.stats[f], 0);
    expect(sum('conns')).toBe(2);
    expect(sum('inpkts')).toBe(3);
    expect(sum('inbytes')).toBe(syn.length - 14 + ack.length - 14 + dgram.length - 14);

    const totals: Array<[string, string, number]> = [
      ['node_ipvs_connections_total', 'The total number of connections made.', 2],
      ['node_ipvs_incoming_packets_total', 'The total number of incoming packets.', 3],
      ['node_ipvs_outgoing_packets_total', 'The total number of outgoing packets.', 0],
      ['node_ipvs_incoming_bytes_total', 'The total amount of incoming data.', sum('inbytes')],
      ['node_ipvs_outgoing_bytes_total', 'The total amount of outgoing data.', 0],
    ];
    for (const [name, help, value] of totals) {
      expect(fams.get(name), name).toEqual({ help, type: 'counter', samples: [{ name, labels: {}, value }] });
    }

    const row = (la: string, lp: string, ra: string, rp: string, proto: string, mark: string) =>
      ({ local_address: la, local_port: lp, remote_address: ra, remote_port: rp, proto, local_mark: mark });
    const backends = [
      { labels: row(VIP, '80', '10.1.0.1', '80', 'TCP', ''), active: 1, inact: 0, weight: 3 },
      { labels: row(VIP, '80', '10.1.0.2', '8080', 'TCP', ''), active: 0, inact: 0, weight: 0 },
      { labels: row(VIP, '53', '10.1.0.3', '53', 'UDP', ''), active: 0, inact: 1, weight: 2 },
      // procfs reads "FWM  0000000A wlc": no local address, port 0, the mark as the kernel prints it.
      { labels: row('', '0', '10.1.0.4', '0', 'FWM', '0000000A'), active: 0, inact: 0, weight: 5 },
    ];
    const gauges: Array<[string, string, 'active' | 'inact' | 'weight']> = [
      ['node_ipvs_backend_connections_active', 'The current active connections by local and remote address.', 'active'],
      ['node_ipvs_backend_connections_inactive', 'The current inactive connections by local and remote address.', 'inact'],
      ['node_ipvs_backend_weight', 'The current backend weight by local and remote address.', 'weight'],
    ];
    for (const [name, help, field] of gauges) {
      const f = fams.get(name)!;
      expect({ help: f.help, type: f.type }, name).toEqual({ help, type: 'gauge' });
      for (const s of f.samples) expect(Object.keys(s.labels).sort()).toEqual([...NODE_IPVS_BACKEND_LABELS].sort());
      const byKey = (x: { labels: Record<string, string> }) => JSON.stringify(x.labels);
      expect(f.samples.map((s) => ({ labels: s.labels, value: s.value })).sort((a, b) => byKey(a).localeCompare(byKey(b))), name)
        .toEqual(backends.map((b) => ({ labels: b.labels, value: b[field] })).sort((a, b) => byKey(a).localeCompare(byKey(b))));
    }

    // Fresh at every scrape: a dest removed is a series gone; the totals keep what it carried, as the kernel's.
    e.delDest(udpKey(53), '10.1.0.3', 53);
    const again = parseExposition(await reg.metrics());
    expect(again.get('node_ipvs_backend_weight')!.samples.map((s) => s.labels.remote_address).sort()).toEqual(['10.1.0.1', '10.1.0.2', '10.1.0.4']);
    expect(again.get('node_ipvs_connections_total')!.samples[0]!.value).toBe(2);

    // With the engine's totals (as lvsd serves them), deleting a whole service is not a counter reset.
    const withTotals = buildRegistry({
      listServices: () => e.listServices(), totals: () => e.totals(), engineCounters: () => e.counters(), ioCounters: () => ({}),
      batchSizes: () => ({ bounds: [], counts: [], sum: 0, count: 0 }),
    });
    e.delService(tcpKey(80));
    const after = parseExposition(await withTotals.metrics());
    expect(after.get('node_ipvs_connections_total')!.samples[0]!.value).toBe(2);
    expect(after.get('node_ipvs_incoming_packets_total')!.samples[0]!.value).toBe(3);
  });
});
