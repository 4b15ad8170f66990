// Bundles each program's entry point (tsc's output under dist/src/cli) into
// dist/bin: one file per program plus shared chunks for what is loaded later
// (metrics, the lvsd daemon behind lvsd's CLI). Node 20's ESM loader costs
// about 1 ms per module, and lvs-keepalived imports ~90: bundled, the start
// to the VIP is ~50 ms shorter (bench/startup.ts). Packages loaded on demand
// (prom-client, pino-pretty, yaml) stay external, so they still cost nothing
// when unused. dist/src stays as tsc wrote it: tests and the lab's helper
// scripts (vip-watchdog) run from there.
import { build } from 'esbuild';
import { chmodSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'bin');
const programs = ['lvsd', 'lvsadm', 'lvs-keepalived'];

rmSync(out, { recursive: true, force: true });
await build({
  // lvsd --workers starts its threads from dist/bin/lvsd-worker.js (src/lvsd/workers.ts workerScript()).
  entryPoints: [
    ...programs.map((p) => join(root, 'dist', 'src', 'cli', `${p}.js`)),
    { in: join(root, 'dist', 'src', 'lvsd', 'worker.js'), out: 'lvsd-worker' },
  ],
  outdir: out,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  external: ['prom-client', 'pino-pretty', 'yaml'],
  // Bundled CommonJS (pino) calls require() for Node's built-ins.
  banner: { js: "import { createRequire as __lvsdRequire } from 'node:module'; const require = __lvsdRequire(import.meta.url);" },
  logLevel: 'warning',
});
for (const f of readdirSync(out)) if (programs.some((p) => f === `${p}.js`)) chmodSync(join(out, f), 0o755);
