import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFilesDir, parseTemplateSpec, writeFiles } from '../../../src/client/run/files.ts';
import { isMemoryBacked } from '../../../src/client/run/memfs.ts';

test('files are 0400 in a 0700 memory-backed dir; stale ones are removed on re-render', (t) => {
  const dir = openFilesDir(undefined, false, {});
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.ok(isMemoryBacked(dir));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const tmplDir = mkdtempSync(join(tmpdir(), 'ward-tmpl-'));
  t.after(() => rmSync(tmplDir, { recursive: true, force: true }));
  writeFileSync(join(tmplDir, 'app.conf.tmpl'), 'user={{ DB_USER }}\npass={{ shop/prod/DB_PASS }}\n\\{{ literal\n');
  const tmpl = parseTemplateSpec(`${join(tmplDir, 'app.conf.tmpl')}:conf/app.conf`);
  const values: Record<string, string> = { DB_USER: 'u', 'shop/prod/DB_PASS': 'p' };
  const lookup = (r: string) => (values[r] === undefined ? undefined : Buffer.from(values[r]!));
  const first = writeFiles(dir, [{ name: 'tls.key', value: Buffer.from('KEY1') }, { name: 'old', value: Buffer.from('x') }], [tmpl], lookup, false);
  assert.equal(readFileSync(join(dir, 'conf/app.conf'), 'utf8'), 'user=u\npass=p\n{{ literal\n');
  for (const p of first) assert.equal(statSync(p).mode & 0o777, 0o400, p);
  values.DB_USER = 'u2';
  writeFiles(dir, [{ name: 'tls.key', value: Buffer.from('KEY2') }], [tmpl], lookup, false, first);
  assert.equal(readFileSync(join(dir, 'tls.key'), 'utf8'), 'KEY2');
  assert.match(readFileSync(join(dir, 'conf/app.conf'), 'utf8'), /user=u2/);
  assert.ok(!existsSync(join(dir, 'old')));
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.')), [], 'no temporary files left');
});

test('a disk-backed --files dir is refused unless --allow-disk', (t) => {
  const disk = mkdtempSync(join(process.cwd(), '.ward-disk-'));
  t.after(() => rmSync(disk, { recursive: true, force: true }));
  if (isMemoryBacked(disk)) return t.diagnostic('cwd is memory-backed; nothing to refuse');
  assert.throws(() => openFilesDir(join(disk, 'f'), false), (e: Error & { code?: string }) => e.code === 'ERR_RUN_DISK' && e.message.includes('not memory-backed'));
  assert.equal(openFilesDir(join(disk, 'f'), true), join(disk, 'f'));
});

test('--template: SRC:DST must be well-formed and DST stay inside the files dir', () => {
  for (const bad of ['x', ':dst', 'src:', '/etc/hostname:../escape', '/etc/hostname:.hidden']) {
    assert.throws(() => parseTemplateSpec(bad), { code: 'ERR_USAGE' }, bad);
  }
  assert.throws(() => parseTemplateSpec('/no/such/file:out'), { code: 'ERR_IO' });
});

test('a bad template leaves the directory untouched', (t) => {
  const dir = openFilesDir(undefined, false, {});
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tmplDir = mkdtempSync(join(tmpdir(), 'ward-tmpl-'));
  t.after(() => rmSync(tmplDir, { recursive: true, force: true }));
  writeFileSync(join(tmplDir, 't'), '{{ NOPE }}');
  const tmpl = parseTemplateSpec(`${join(tmplDir, 't')}:out`);
  assert.throws(() => writeFiles(dir, [{ name: 'tls.key', value: Buffer.from('K') }], [tmpl], () => undefined, false), { code: 'ERR_TEMPLATE' });
  assert.deepEqual(readdirSync(dir), []);
});
