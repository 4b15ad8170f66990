// Where the checkout is, whether we run from lab/*.ts (vitest) or dist/lab/*.js.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the lvsd checkout (package.json)');
    dir = up;
  }
  return dir;
}

export const ROOT = findRoot();
export const RS_DIR = join(ROOT, 'lab', 'rs');
export const BIN = {
  lvsd: join(ROOT, 'dist', 'bin', 'lvsd.js'),
  lvsadm: join(ROOT, 'dist', 'bin', 'lvsadm.js'),
  keepalived: join(ROOT, 'dist', 'bin', 'lvs-keepalived.js'),
};
