// What a fast-path sweep costs the lvsd process per second (src/io/fastpath.ts),
// and where batch reads start to pay: for a flow map of --max entries
// holding N flows, the time of N single lookups (BPF_MAP_LOOKUP_ELEM, one
// syscall each) against one whole-map walk (BPF_MAP_LOOKUP_BATCH, one
// syscall per 4096 entries, but every bucket visited and locked, so its
// cost follows the map's size). Prints both and the ratio, and the
// "buckets per lookup" figure FastPath's choice rests on
// (BUCKETS_PER_LOOKUP). Needs root (CAP_BPF). Not a test.
//
//   npm run bench:sweep -- [--max 262144] [--flows 100,1000,10000,100000,262144] [--rounds 5]
import { parseArgs } from 'node:util';
import { BPF_F_NO_PREALLOC, mapCreateHash, mapForEachBatch, mapLookup, mapUpdate, bpfClose } from '../src/io/ebpf-sys.js';
import { KEY_SIZE, VALUE_SIZE } from '../src/io/fastpath-prog.js';

const { values: opt } = parseArgs({
  options: {
    max: { type: 'string', default: '262144' },
    flows: { type: 'string', default: '100,1000,10000,100000,262144' },
    rounds: { type: 'string', default: '5' },
  },
});
const max = Number(opt.max);
const rounds = Number(opt.rounds);
const sizes = opt.flows!.split(',').map(Number).filter((n) => n <= max);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const key = (i: number): Buffer => {
  const k = Buffer.alloc(KEY_SIZE);
  k.writeUInt32BE(0x0a000000 + i, 0);
  k.writeUInt32BE(0x0a640064, 4);
  k.writeUInt32BE(((1024 + (i % 60000)) << 16 | 80) >>> 0, 8);
  k[12] = 6;
  return k;
};

console.log(`map of ${max} entries; median of ${rounds} rounds`);
console.log('flows      lookups (ms)   batch walk (ms)   lookup/batch   buckets per lookup');
let perLookupNs = 0;
let walkNs = 0;
for (const n of sizes) {
  const fd = mapCreateHash(KEY_SIZE, VALUE_SIZE, max, 'sweep_bench', BPF_F_NO_PREALLOC); // as lvsd makes it
  try {
    const keys = Array.from({ length: n }, (_, i) => key(i));
    const v = Buffer.alloc(VALUE_SIZE);
    for (const k of keys) if (!mapUpdate(fd, k, v)) throw new Error('map full');
    const tl: number[] = [];
    const tb: number[] = [];
    for (let r = 0; r < rounds; r++) {
      let t = process.hrtime.bigint();
      for (const k of keys) mapLookup(fd, k, v);
      tl.push(Number(process.hrtime.bigint() - t) / 1e6);
      t = process.hrtime.bigint();
      let seen = 0;
      mapForEachBatch(fd, KEY_SIZE, VALUE_SIZE, (_k, _v, m) => { seen += m; });
      tb.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (seen !== n) throw new Error(`batch walk saw ${seen} of ${n}`);
    }
    const l = median(tl), b = median(tb);
    perLookupNs = (l * 1e6) / n;
    walkNs = b * 1e6;
    let buckets = 1;
    while (buckets < max) buckets *= 2;
    const bucketNs = walkNs / buckets;
    console.log(`${String(n).padEnd(10)} ${l.toFixed(2).padStart(12)}   ${b.toFixed(2).padStart(15)}   ${(l / b).toFixed(2).padStart(12)}   ${(perLookupNs / bucketNs).toFixed(1).padStart(18)}`);
  } finally {
    bpfClose(fd);
  }
}
