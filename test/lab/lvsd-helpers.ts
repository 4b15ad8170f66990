// Helpers the lab tests of lvsd's data plane share: what to print when a
// test fails, a UDP echo client and an nftables counter reader.
import { onTestFailed } from 'vitest';
import type { Lab } from '../../lab/netns.js';
import type { Lvsd } from '../../lab/director.js';

/** On failure of the current test: lvsd's non-zero counters and the tail of its output. */
export function diagnoseLvsd(lvsd: () => Lvsd | undefined): void {
  onTestFailed(async () => {
    const l = lvsd();
    try {
      const c = await l?.call('get-counters', {});
      process.stderr.write(`counters: ${JSON.stringify(Object.fromEntries(Object.entries(c ?? {}).filter(([, v]) => v)))}\n`);
    } catch (e) { process.stderr.write(`counters: ${String(e)}\n`); }
    process.stderr.write(`lvsd output (tail): ${l?.proc.output().slice(-3000)}\n`);
  });
}

/** N datagrams on one socket to host:port, one at a time (node -e); prints how many echoes came back. */
export function udpEchoScript(host: string, port: number, n: number, family: 'udp4' | 'udp6' = 'udp4'): string {
  return `
const s = require('dgram').createSocket('${family}');
let got = 0, i = 0;
const next = () => { if (i === ${n}) { console.log('ECHOES ' + got); s.close(); return; } s.send('ping ' + (i++), ${port}, '${host}'); t = setTimeout(next, 300); };
let t;
s.on('message', () => { got++; clearTimeout(t); setTimeout(next, 20); });
next();`;
}

/** Packets and bytes every counter of nftables table `ip <table>` in `host` has counted. */
export async function nftCounter(lab: Lab, host: string, table: string): Promise<{ packets: number; bytes: number }> {
  const { stdout } = await lab.exec(host, ['nft', '-j', 'list', 'table', 'ip', table]);
  const j = JSON.parse(stdout) as { nftables: { rule?: { expr: { counter?: { packets: number; bytes: number } }[] } }[] };
  let packets = 0, bytes = 0;
  for (const x of j.nftables) for (const e of x.rule?.expr ?? []) if (e.counter) { packets += e.counter.packets; bytes += e.counter.bytes; }
  return { packets, bytes };
}
