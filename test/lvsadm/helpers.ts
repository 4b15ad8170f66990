// lvsadm in-process, as the tests run it: against a socket path (usually a
// TestLvsd from test/helpers/lvsd-server.ts), with a fixed services table.
import { run, type RunIO } from '../../src/lvsadm/run.js';
import { StaticResolver, type Resolver } from '../../src/lvsadm/names.js';
import type { ConnEntry, ServiceStatus } from '../../src/ipvs/types.js';
import { ControlError, type TestLvsd } from '../helpers/lvsd-server.js';

export const SERVICES_TEXT = [
  'ssh\t\t22/tcp',
  'http\t\t80/tcp\t\twww',
  'http\t\t80/udp',
  'https\t\t443/tcp',
  'domain\t\t53/tcp',
  'domain\t\t53/udp',
  'sip\t\t5060/udp',
].join('\n');

export interface Outcome { code: number; stdout: string; stderr: string }

/** Run lvsadm in-process against a socket path. */
export async function lvsadm(
  args: string[], opts: { socket?: string; stdin?: string; resolver?: Resolver } = {},
): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const io: RunIO = {
    stdout: (s) => { stdout += s; },
    stderr: (s) => { stderr += s; },
    readStdin: async () => opts.stdin ?? '',
    resolver: opts.resolver ?? new StaticResolver(SERVICES_TEXT),
    envSocket: opts.socket,
    timeoutMs: 5000,
  };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

export const zeroStats = () => ({ conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
export const zeroRates = () => ({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });

/**
 * Formatter fixtures: lvsd answers list-services from these statuses (and
 * one service by key, ESRCH when absent, as the engine does) instead of from
 * its engine. Only for listings a unit test cannot drive the engine to:
 * counters in the billions, rates, tunnel types and persistence engines lvsd
 * refuses. Everything else in these tests goes through the real engine.
 */
export function serveServices(lvsd: TestLvsd, services: ServiceStatus[]): () => void {
  return lvsd.override('list-services', ({ key }) => {
    if (!key) return services;
    const found = services.filter((s) => JSON.stringify(s.key) === JSON.stringify(key));
    if (found.length === 0) throw new ControlError('ESRCH', 'No such service');
    return found;
  });
}

/** Formatter fixtures for -Lc: connections mid-countdown, templates, pe data, as lvsd would list them. */
export function serveConns(lvsd: TestLvsd, conns: ConnEntry[]): () => void {
  return lvsd.override('list-conns', () => conns);
}
