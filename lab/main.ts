// `npm run lab [-- <experiment>]`: the notes' experiments, one command each.
// With no argument: the HA lab, live. Every experiment prints what the notes
// show and a one-line verdict; `list` names them.
import { cleanupStale } from './netns.js';
import { experiments } from './experiments/index.js';

async function main(): Promise<number> {
  const name = process.argv[2] ?? 'ha';
  if (process.getuid?.() !== 0) {
    console.error('lvsd lab: run as root (it creates network namespaces)');
    return 1;
  }
  const removed = await cleanupStale();
  if (removed.length) console.log(`(removed ${removed.length} namespaces left by an earlier run)`);
  if (name === 'list' || name === '-h' || name === '--help') {
    console.log('usage: npm run lab [-- <experiment>]\n');
    for (const e of experiments) console.log(`  ${e.name.padEnd(12)} ${e.title}`);
    return 0;
  }
  const exp = experiments.find((e) => e.name === name);
  if (!exp) {
    console.error(`lvsd lab: no experiment "${name}"; try: ${experiments.map((e) => e.name).join(', ')}`);
    return 2;
  }
  console.log(`== ${exp.name}: ${exp.title}`);
  const started = Date.now();
  const v = await exp.run({ say: (l) => console.log(l) });
  console.log(`\n${v.ok ? 'PASS' : 'FAIL'} ${exp.name} (${((Date.now() - started) / 1000).toFixed(1)} s): ${v.summary}`);
  return v.ok ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  console.error(`lvsd lab: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
