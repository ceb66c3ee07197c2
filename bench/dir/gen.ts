// Writes the benchmark tree: FILES files of random data totalling BYTES, 100 per directory.
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [root, files = '1000', bytes = String(1 << 30)] = process.argv.slice(2);
if (root === undefined) throw new TypeError('usage: gen.ts DIR [FILES] [BYTES]');
const n = Number(files);
const each = Math.floor(Number(bytes) / n);
const buf = Buffer.alloc(each);
for (let i = 0; i < n; i++) {
  const dir = join(root, `d${String(Math.floor(i / 100)).padStart(2, '0')}`);
  mkdirSync(dir, { recursive: true });
  randomFillSync(buf);
  writeFileSync(join(dir, `file-${String(i).padStart(4, '0')}.dat`), buf);
}
