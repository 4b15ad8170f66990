// tshark as an independent judge of frames this project builds. Shared with
// later tests (VRRP, forwarder): dissect() writes the frames to a temporary
// pcap, runs tshark with checksum validation on, and returns per packet every
// field tshark decoded, its expert infos and its -V text.
import { expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePcap } from './build/pcap.js';

/** $TSHARK overrides the search (a path that does not exist means "not installed", to test that path). */
export function findTshark(): string | undefined {
  const forced = process.env.TSHARK;
  if (forced !== undefined) return existsSync(forced) ? forced : undefined;
  for (const p of ['/usr/bin/tshark', '/usr/local/bin/tshark']) if (existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', 'command -v tshark'], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

/** Expert info severities as tshark -T json prints them. */
export const EXPERT_CHAT = 0x200000;
export const EXPERT_NOTE = 0x400000;
export const EXPERT_WARN = 0x600000;
export const EXPERT_ERROR = 0x800000;

export interface TsharkExpert {
  message: string;
  severity: number;
}

export interface TsharkPacket {
  /** Every field value, including nested ones, by field name. */
  fields: Map<string, string[]>;
  experts: TsharkExpert[];
  /** This packet's section of `tshark -V`. */
  text: string;
  /** First value of a field. */
  get(name: string): string | undefined;
  all(name: string): string[];
}

/** Checksum validation on for every protocol that has a switch; TCP sequence analysis off (single segments look like gaps). */
export const JUDGE_PREFS: Record<string, string> = {
  'ip.check_checksum': 'TRUE',
  'tcp.check_checksum': 'TRUE',
  'udp.check_checksum': 'TRUE',
  'tcp.analyze_sequence_numbers': 'FALSE',
};

function flatten(node: unknown, fields: Map<string, string[]>, experts: TsharkExpert[]): void {
  if (node === null || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  if (typeof obj['_ws.expert.message'] === 'string') {
    experts.push({ message: obj['_ws.expert.message'] as string, severity: Number(obj['_ws.expert.severity'] ?? 0) });
  }
  for (const [k, v] of Object.entries(obj)) {
    const vals = Array.isArray(v) ? v : [v];
    for (const x of vals) {
      if (typeof x === 'string') {
        const list = fields.get(k);
        if (list) list.push(x); else fields.set(k, [x]);
      } else flatten(x, fields, experts);
    }
  }
}

function run(tshark: string, file: string, prefs: Record<string, string>, format: string[]): string {
  const args = ['-r', file, '-n'];
  for (const [k, v] of Object.entries(prefs)) args.push('-o', `${k}:${v}`);
  const r = spawnSync(tshark, [...args, ...format], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tshark failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** `linktype`: the pcap's (default Ethernet; LINKTYPE_NETLINK for netlink messages behind their cooked header). */
export function dissect(frames: Uint8Array[], prefs: Record<string, string> = {}, tshark = findTshark(), linktype?: number): TsharkPacket[] {
  if (!tshark) throw new Error('tshark not found (apt-get install tshark)');
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-pcap-'));
  try {
    const file = join(dir, 'frames.pcap');
    writeFileSync(file, encodePcap(frames, linktype === undefined ? undefined : { linktype }));
    const allPrefs = { ...JUDGE_PREFS, ...prefs };
    const json = JSON.parse(run(tshark, file, allPrefs, ['--no-duplicate-keys', '-T', 'json'])) as Array<{ _source: { layers: unknown } }>;
    const text = run(tshark, file, allPrefs, ['-V']);
    const sections = text.split(/^(?=Frame \d+: )/m).filter((s) => s.startsWith('Frame '));
    if (json.length !== frames.length || sections.length !== frames.length) {
      throw new Error(`tshark saw ${json.length} packets (${sections.length} in -V), ${frames.length} were written`);
    }
    return json.map((p, i) => {
      const fields = new Map<string, string[]>();
      const experts: TsharkExpert[] = [];
      flatten(p._source.layers, fields, experts);
      return {
        fields, experts, text: sections[i]!,
        get: (n: string) => fields.get(n)?.[0],
        all: (n: string) => fields.get(n) ?? [],
      };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What tshark says is wrong with a packet: malformed, incorrect checksums, warnings and errors. */
export function complaints(p: TsharkPacket): string[] {
  const out: string[] = [];
  for (const line of p.text.split('\n')) {
    if (/Malformed|\[incorrect|incorrect, should be|Bad checksum|Checksum Status: Bad|status: Bad/i.test(line)) out.push(line.trim());
  }
  for (const e of p.experts) if (e.severity >= EXPERT_WARN || /checksum|malformed/i.test(e.message)) out.push(`expert: ${e.message}`);
  for (const [k, v] of p.fields) {
    if (k.startsWith('_ws.malformed')) out.push(`field ${k}`);
    if (k.endsWith('checksum.status') && v.some((x) => x === '0')) out.push(`${k}=bad`);
  }
  return out;
}

/** What a judged frame must show: fields (first value, or every value for arrays) and checksum statuses tshark must call Good. */
export interface Expectation {
  name: string;
  expect: Record<string, string | string[]>;
  good: string[];
}

/** Asserts tshark has no complaint about the packet and shows what `c` expects. */
export function judge(c: Expectation, p: TsharkPacket): void {
  expect(complaints(p), `${c.name}: tshark complaints`).toEqual([]);
  for (const s of c.good) expect(p.all(s), `${c.name}: ${s}`).toEqual(expect.arrayContaining(['1']));
  for (const s of c.good) expect(p.all(s).filter((v) => v !== '1'), `${c.name}: ${s} not all Good`).toEqual([]);
  for (const [k, v] of Object.entries(c.expect)) {
    if (Array.isArray(v)) expect(p.all(k), `${c.name}: ${k}`).toEqual(v);
    else expect(p.get(k), `${c.name}: ${k}`).toBe(v);
  }
}
