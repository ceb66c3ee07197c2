// The rclone crypt tree driver on real directories: round trips, modes and times, incremental
// runs, symlinks, and every failure leaving no partial plaintext behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptTree, encryptTree, type TreeOptions } from '../../src/fs/crypt-tree.ts';
import { BLOCK_BYTES, HEADER_BYTES, deriveKeys } from '../../src/formats/rclone/index.ts';
import { WardError } from '../../src/errors.ts';

const keys = await deriveKeys(Buffer.from('correct horse'), Buffer.from('battery staple'));
const wrongKeys = await deriveKeys(Buffer.from('wrong horse'), Buffer.from('battery staple'));
const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ward-dir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A small tree: sizes across block boundaries, nested and empty directories, odd modes. */
function makeTree(root: string): void {
  mkdirSync(join(root, 'docs/deep'), { recursive: true });
  mkdirSync(join(root, 'empty'));
  writeFileSync(join(root, 'zero'), '');
  writeFileSync(join(root, 'one'), 'x');
  writeFileSync(join(root, 'docs/65535'), randomBytes(65535));
  writeFileSync(join(root, 'docs/65536'), randomBytes(65536));
  writeFileSync(join(root, 'docs/deep/65537'), randomBytes(65537));
  writeFileSync(join(root, 'docs/deep/3x65536+5'), randomBytes(3 * 65536 + 5));
  writeFileSync(join(root, 'Grüße 日本.txt'), 'unicode name');
  chmodSync(join(root, 'one'), 0o600);
  chmodSync(join(root, 'docs/65535'), 0o755);
  utimesSync(join(root, 'one'), 1_000_000_000, 1_000_000_000.123);
  utimesSync(join(root, 'docs'), 1_100_000_000, 1_100_000_000);
}

/** Every file and directory under root with its content digest, mode and time. */
function snapshot(root: string, dir = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, dir)).sort()) {
    const rel = dir ? `${dir}/${name}` : name;
    const st = lstatSync(join(root, rel));
    if (st.isDirectory()) {
      out[`${rel}/`] = `${(st.mode & 0o777).toString(8)} ${Math.round(st.mtimeMs)}`;
      Object.assign(out, snapshot(root, rel));
    } else {
      out[rel] = `${(st.mode & 0o777).toString(8)} ${Math.round(st.mtimeMs)} ${readFileSync(join(root, rel)).toString('base64').slice(0, 40)} ${st.size}`;
    }
  }
  return out;
}

function allNames(root: string): string[] {
  return readdirSync(root, { recursive: true }).map(String);
}

const modes: [string, Partial<TreeOptions>][] = [
  ['standard', {}],
  ['standard, second crypto thread', { threads: 2 }],
  ['standard, directory names in clear', { directoryNameEncryption: false }],
  ['off', { filenameEncryption: 'off' }],
];

for (const [label, opt] of modes) {
  test(`round trip keeps contents, names, modes and times (${label})`, async (t) => {
    const dir = scratch(t);
    makeTree(join(dir, 'plain'));
    const enc = await encryptTree(join(dir, 'plain'), join(dir, 'enc'), { keys, ...opt });
    assert.equal(enc.written, 7);
    assert.equal(enc.directories, 3);
    const names = allNames(join(dir, 'enc'));
    assert.ok(!names.some((n) => n.includes('65537')) || opt.filenameEncryption === 'off');
    if (opt.filenameEncryption === 'off') assert.ok(names.includes('docs/deep/65537.bin'));
    if (opt.directoryNameEncryption === false) assert.ok(names.includes('docs'));
    const dec = await decryptTree(join(dir, 'enc'), join(dir, 'dec'), { keys, ...opt });
    assert.equal(dec.written, 7);
    assert.deepEqual(snapshot(join(dir, 'dec')), snapshot(join(dir, 'plain')));
  });
}

test('a second run rewrites only what changed (size and time)', async (t) => {
  const dir = scratch(t);
  makeTree(join(dir, 'plain'));
  await encryptTree(join(dir, 'plain'), join(dir, 'enc'), { keys });
  const again = await encryptTree(join(dir, 'plain'), join(dir, 'enc'), { keys });
  assert.deepEqual([again.written, again.unchanged], [0, 7]);
  writeFileSync(join(dir, 'plain/one'), 'changed');
  const third = await encryptTree(join(dir, 'plain'), join(dir, 'enc'), { keys });
  assert.deepEqual([third.written, third.unchanged], [1, 6]);
  await decryptTree(join(dir, 'enc'), join(dir, 'dec'), { keys });
  assert.equal(readFileSync(join(dir, 'dec/one'), 'utf8'), 'changed');
  const dec2 = await decryptTree(join(dir, 'enc'), join(dir, 'dec'), { keys });
  assert.deepEqual([dec2.written, dec2.unchanged], [0, 7]);
});

test('symbolic links are skipped with a warning', async (t) => {
  const dir = scratch(t);
  mkdirSync(join(dir, 'plain'));
  writeFileSync(join(dir, 'plain/file'), 'data');
  symlinkSync('/etc/passwd', join(dir, 'plain/link'));
  const warnings: string[] = [];
  const r = await encryptTree(join(dir, 'plain'), join(dir, 'enc'), { keys, onWarning: (m) => warnings.push(m) });
  assert.equal(r.skipped, 1);
  assert.equal(r.written, 1);
  assert.match(warnings.join('\n'), /skipping link: symbolic link/);
});

test('the destination may not be inside the source', async (t) => {
  const dir = scratch(t);
  mkdirSync(join(dir, 'plain'));
  await assert.rejects(encryptTree(join(dir, 'plain'), join(dir, 'plain/enc'), { keys }), code('ERR_USAGE'));
});

async function encrypted(t: { after: (fn: () => void) => void }): Promise<string> {
  const dir = scratch(t);
  makeTree(join(dir, 'plain'));
  await encryptTree(join(dir, 'plain'), join(dir, 'enc'), { keys, jobs: 1 });
  return dir;
}

/** The encrypted path of the 3×65536+5 file. */
function bigFile(dir: string): string {
  const rel = allNames(join(dir, 'enc')).find((n) => statSync(join(dir, 'enc', n)).size === HEADER_BYTES + 3 * BLOCK_BYTES + 21);
  assert.ok(rel);
  return join(dir, 'enc', rel);
}

test('a tampered last block fails with ERR_RCLONE_BLOCK and leaves no partial file', async (t) => {
  const dir = await encrypted(t);
  const f = bigFile(dir);
  const fd = openSync(f, 'r+');
  writeSync(fd, Buffer.from([0xff]), 0, 1, HEADER_BYTES + 3 * BLOCK_BYTES + 18);
  closeSync(fd);
  await assert.rejects(decryptTree(join(dir, 'enc'), join(dir, 'dec'), { keys, jobs: 1 }), (e) => code('ERR_RCLONE_BLOCK')(e) && /block 3/.test((e as Error).message));
  const out = allNames(join(dir, 'dec'));
  assert.ok(!out.some((n) => n.includes('3x65536+5')), 'no partial plaintext');
  assert.ok(!out.some((n) => n.includes('.ward-tmp-')), 'no temporary file');
});

test('with a second crypto thread, a tampered block and a wrong password fail the same way', async (t) => {
  const dir = await encrypted(t);
  const f = bigFile(dir);
  const fd = openSync(f, 'r+');
  writeSync(fd, Buffer.from([0xff]), 0, 1, HEADER_BYTES + BLOCK_BYTES + 100);
  closeSync(fd);
  await assert.rejects(decryptTree(join(dir, 'enc'), join(dir, 'dec'), { keys, threads: 2, jobs: 2 }), (e) => code('ERR_RCLONE_BLOCK')(e) && /block 1 /.test((e as Error).message));
  assert.ok(!allNames(join(dir, 'dec')).some((n) => n.includes('3x65536+5') || n.includes('.ward-tmp-')));
  await assert.rejects(decryptTree(join(dir, 'enc'), join(dir, 'dec2'), { keys: wrongKeys, threads: 2, jobs: 2 }), code('ERR_RCLONE_WRONG_PASSWORD'));
});

test('a renamed encrypted file fails with ERR_RCLONE_NAME before anything is written', async (t) => {
  const dir = await encrypted(t);
  const f = bigFile(dir);
  renameSync(f, join(f, '..', 'renamed-by-someone'));
  await assert.rejects(decryptTree(join(dir, 'enc'), join(dir, 'dec'), { keys }), code('ERR_RCLONE_NAME'));
  assert.throws(() => readdirSync(join(dir, 'dec')), /ENOENT/);
});

test('a wrong password fails with ERR_RCLONE_WRONG_PASSWORD, in both name modes', async (t) => {
  const dir = await encrypted(t);
  await assert.rejects(decryptTree(join(dir, 'enc'), join(dir, 'dec'), { keys: wrongKeys }), code('ERR_RCLONE_WRONG_PASSWORD'));
  await encryptTree(join(dir, 'plain'), join(dir, 'off'), { keys, filenameEncryption: 'off' });
  rmSync(join(dir, 'off/zero.bin'));
  await assert.rejects(decryptTree(join(dir, 'off'), join(dir, 'dec2'), { keys: wrongKeys, filenameEncryption: 'off' }), code('ERR_RCLONE_WRONG_PASSWORD'));
  assert.ok(!allNames(join(dir, 'dec2')).some((n) => statSync(join(dir, 'dec2', n)).isFile()), 'no file written');
});

test('a file that is not rclone crypt fails with ERR_RCLONE_HEADER', async (t) => {
  const dir = scratch(t);
  mkdirSync(join(dir, 'enc'));
  writeFileSync(join(dir, 'enc/not-encrypted.bin'), 'hello, this is plain text and long enough to pass the size check');
  await assert.rejects(decryptTree(join(dir, 'enc'), join(dir, 'dec'), { keys, filenameEncryption: 'off' }), code('ERR_RCLONE_HEADER'));
  assert.deepEqual(readdirSync(join(dir, 'dec')), []);
});

test('an abort removes the file being written', async (t) => {
  const dir = scratch(t);
  mkdirSync(join(dir, 'plain'));
  writeFileSync(join(dir, 'plain/big'), randomBytes(8 * 65536));
  const ac = new AbortController();
  const reason = new Error('stop');
  const p = encryptTree(join(dir, 'plain'), join(dir, 'enc'), { keys, signal: ac.signal, onProgress: (pr) => pr.bytes > 65536 && ac.abort(reason) });
  await assert.rejects(p, (e) => e === reason);
  assert.deepEqual(readdirSync(join(dir, 'enc')), []);
});
