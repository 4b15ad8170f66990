// -S and -R. Saving is list_all in FMT_RULE form. Restoring differs from
// ipvsadm on purpose: ipvsadm runs each line as its own command, so a bad
// line 40 leaves lines 1-39 applied. lvsadm parses every line first, plays
// the rule commands against an in-memory ruleset with the kernel's checks,
// and only then sends the result as one atomic `replace`. Any bad line
// rejects the whole input and names its line number; nothing is sent.
// The restored input is the whole ruleset (what `-C` then ipvsadm -R gives).
import { SCHEDULERS, type DestSpec, type Ruleset, type ServiceKey, type ServiceRules, type ServiceStatus } from '../ipvs/types.js';
import { CMD, FMT, LvsadmExit, parseCommandLine, PROGRAM } from './args.js';
import { destSpec, serviceKey, serviceSpec } from './convert.js';
import { listAll } from './format-list.js';
import type { Resolver } from './names.js';

/** Persistence engines lvsd knows (ipvsadm's PERSISTENCE_ENGINES). */
export const PERSISTENCE_ENGINES = ['sip'];

export function saveText(services: readonly ServiceStatus[], format: number, resolver: Resolver | null): string {
  return listAll(null, services, format | FMT.RULE, resolver);
}

/**
 * config_stream_read: words split on blanks; the word "ipvsadm" is dropped
 * wherever it appears (so `ipvsadm -A ...` lines work). lvsadm also drops
 * "lvsadm" and treats words from one starting with '#' to the end of the
 * line as a comment, which ipvsadm's reader means to do but does not.
 */
export function tokenizeLine(line: string): string[] {
  const out: string[] = [];
  for (const w of line.split(/[ \t\r]+/)) {
    if (w === '') continue;
    if (w.startsWith('#')) break;
    if (w === 'ipvsadm' || w === 'lvsadm') continue;
    out.push(w);
  }
  return out;
}

function keyEq(a: ServiceKey, b: ServiceKey): boolean {
  if (a.kind === 'fwmark' || b.kind === 'fwmark') {
    return a.kind === 'fwmark' && b.kind === 'fwmark' && a.fwmark === b.fwmark && (a.af === 6) === (b.af === 6);
  }
  return a.protocol === b.protocol && a.addr === b.addr && a.port === b.port;
}

function refuse(msg: string): never {
  throw new LvsadmExit(255, `${msg}\n`);
}

function checkThresholds(d: DestSpec): void {
  // ip_vs_add_dest / ip_vs_edit_dest refuse this with ERANGE.
  if (d.lThreshold > d.uThreshold) refuse('Numerical result out of range');
}

function checkScheduler(s: ServiceRules): void {
  if (!(SCHEDULERS as readonly string[]).includes(s.scheduler)) refuse('Scheduler or persistence engine not found');
  if (s.pe !== undefined && !PERSISTENCE_ENGINES.includes(s.pe)) refuse('Scheduler or persistence engine not found');
}

/**
 * Parse -R input into the ruleset it describes. Throws LvsadmExit whose
 * message starts with the line number of the first bad line.
 */
export async function parseRestore(text: string, resolver: Resolver, program = PROGRAM): Promise<Ruleset> {
  const services: ServiceRules[] = [];
  const find = (k: ServiceKey) => services.findIndex((s) => keyEq(s.key, k));
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const words = tokenizeLine(lines[i]!);
    if (words.length === 0) continue;
    try {
      const outcome = await parseCommandLine([program, ...words], { resolver, program, readingStdin: true });
      if (outcome.kind !== 'command') refuse(`only rule commands can be restored (-A -E -D -a -e -d -C)`);
      const ce = outcome.entry;
      switch (ce.cmd) {
        case CMD.FLUSH: services.length = 0; break;
        case CMD.ADD: {
          const spec = serviceSpec(ce.svc);
          if (find(spec.key) >= 0) refuse('Service already exists');
          const s: ServiceRules = { ...spec, dests: [] };
          checkScheduler(s);
          services.push(s);
          break;
        }
        case CMD.EDIT: {
          const spec = serviceSpec(ce.svc);
          const idx = find(spec.key);
          if (idx < 0) refuse('No such service');
          const s: ServiceRules = { ...spec, dests: services[idx]!.dests };
          checkScheduler(s);
          services[idx] = s;
          break;
        }
        case CMD.DEL: {
          const idx = find(serviceKey(ce.svc));
          if (idx < 0) refuse('No such service');
          services.splice(idx, 1);
          break;
        }
        case CMD.ADDDEST: case CMD.EDITDEST: case CMD.DELDEST: {
          const idx = find(serviceKey(ce.svc));
          if (idx < 0) refuse('Service not defined');
          const svc = services[idx]!;
          const d = destSpec(ce.dest);
          const di = svc.dests.findIndex((x) => x.addr === d.addr && x.port === d.port);
          if (ce.cmd === CMD.ADDDEST) {
            if (di >= 0) refuse('Destination already exists');
            checkThresholds(d);
            svc.dests.push(d);
          } else {
            if (di < 0) refuse('No such destination');
            if (ce.cmd === CMD.EDITDEST) { checkThresholds(d); svc.dests[di] = d; } else svc.dests.splice(di, 1);
          }
          break;
        }
        default:
          refuse('only rule commands can be restored (-A -E -D -a -e -d -C)');
      }
    } catch (e) {
      if (e instanceof LvsadmExit) {
        const msg = e.stderr.replace(/\n+$/, '').replace(/\n/g, ' ');
        throw new LvsadmExit(e.code, `${program} -R: line ${i + 1}: ${msg} (nothing restored)\n`);
      }
      throw e;
    }
  }
  return { services };
}
