// `ward dir` end to end, as a child process: flags, password sources, exit codes, quiet output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { obscure } from '../../src/formats/rclone/index.ts';

const WARD = new URL('../../bin/ward.js', import.meta.url).pathname;

function ward(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [WARD, ...args], { encoding: 'utf8', env: { ...process.env, ...env, WARD_DIR_PASSWORD_FILE: env.WARD_DIR_PASSWORD_FILE ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-dir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'plain/sub'), { recursive: true });
  writeFileSync(join(dir, 'plain/a.txt'), 'alpha\n');
  writeFileSync(join(dir, 'plain/sub/b.txt'), 'beta\n');
  writeFileSync(join(dir, 'pw'), 'correct horse\n');
  writeFileSync(join(dir, 'salt'), 'battery staple\n');
  return dir;
}

test('encrypt then decrypt with password and salt files; quiet when piped', (t) => {
  const dir = scratch(t);
  const enc = ward(['dir', 'encrypt', join(dir, 'plain'), join(dir, 'enc'), '--password-file', join(dir, 'pw'), '--salt-file', join(dir, 'salt')]);
  assert.equal(enc.status, 0, enc.stderr);
  assert.equal(enc.stderr, '');
  assert.equal(enc.stdout, '');
  assert.equal(readdirSync(join(dir, 'enc')).length, 2);
  const dec = ward(['dir', 'decrypt', join(dir, 'enc'), join(dir, 'dec'), '--salt-file', join(dir, 'salt')], { WARD_DIR_PASSWORD_FILE: join(dir, 'pw') });
  assert.equal(dec.status, 0, dec.stderr);
  assert.equal(readFileSync(join(dir, 'dec/sub/b.txt'), 'utf8'), 'beta\n');
});

test('--obscured takes the values of rclone.conf', (t) => {
  const dir = scratch(t);
  writeFileSync(join(dir, 'pw.obscured'), `${obscure(Buffer.from('correct horse'))}\n`);
  writeFileSync(join(dir, 'salt.obscured'), obscure(Buffer.from('battery staple')));
  const enc = ward(['dir', 'encrypt', join(dir, 'plain'), join(dir, 'enc'), '--password-file', join(dir, 'pw.obscured'), '--salt-file', join(dir, 'salt.obscured'), '--obscured']);
  assert.equal(enc.status, 0, enc.stderr);
  const dec = ward(['dir', 'decrypt', join(dir, 'enc'), join(dir, 'dec'), '--password-file', join(dir, 'pw'), '--salt-file', join(dir, 'salt')]);
  assert.equal(dec.status, 0, dec.stderr);
  const bad = ward(['dir', 'decrypt', join(dir, 'enc'), join(dir, 'dec2'), '--password-file', join(dir, 'pw'), '--obscured']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /ERR_RCLONE_OBSCURED/);
});

test('name modes from flags; a mismatch is a decryption failure (exit 3)', (t) => {
  const dir = scratch(t);
  const pw = ['--password-file', join(dir, 'pw')];
  assert.equal(ward(['dir', 'encrypt', join(dir, 'plain'), join(dir, 'off'), ...pw, '--filename-encryption', 'off']).status, 0);
  assert.deepEqual(readdirSync(join(dir, 'off')).sort(), ['a.txt.bin', 'sub']);
  assert.equal(ward(['dir', 'encrypt', join(dir, 'plain'), join(dir, 'nodir'), ...pw, '--directory-name-encryption', 'false']).status, 0);
  assert.ok(readdirSync(join(dir, 'nodir')).includes('sub'));
  const wrongMode = ward(['dir', 'decrypt', join(dir, 'off'), join(dir, 'dec'), ...pw]);
  assert.equal(wrongMode.status, 3);
  assert.match(wrongMode.stderr, /ERR_RCLONE_WRONG_PASSWORD/);
  const bad = ward(['dir', 'encrypt', join(dir, 'plain'), join(dir, 'x'), ...pw, '--filename-encryption', 'obfuscate']);
  assert.equal(bad.status, 2);
});

test('wrong password: exit 3, ERR_RCLONE_WRONG_PASSWORD, no stack trace, nothing written', (t) => {
  const dir = scratch(t);
  assert.equal(ward(['dir', 'encrypt', join(dir, 'plain'), join(dir, 'enc'), '--password-file', join(dir, 'pw')]).status, 0);
  writeFileSync(join(dir, 'wrong'), 'wrong horse');
  const r = ward(['dir', 'decrypt', join(dir, 'enc'), join(dir, 'dec'), '--password-file', join(dir, 'wrong')]);
  assert.equal(r.status, 3);
  assert.match(r.stderr, /^ward: error: .*wrong password.*\(ERR_RCLONE_WRONG_PASSWORD\)$/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.throws(() => readdirSync(join(dir, 'dec')), /ENOENT/);
});

test('missing or empty password, bad --jobs: usage errors', (t) => {
  const dir = scratch(t);
  const none = ward(['dir', 'encrypt', join(dir, 'plain'), join(dir, 'enc')]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--password-file/);
  writeFileSync(join(dir, 'empty'), '\n');
  const empty = ward(['dir', 'encrypt', join(dir, 'plain'), join(dir, 'enc'), '--password-file', join(dir, 'empty')]);
  assert.equal(empty.status, 2);
  assert.match(empty.stderr, /ERR_PASSPHRASE/);
  assert.equal(ward(['dir', 'encrypt', join(dir, 'plain'), join(dir, 'enc'), '--password-file', join(dir, 'pw'), '--jobs', '0']).status, 2);
});

test('help documents the flags', () => {
  const r = ward(['dir', 'encrypt', '--help']);
  assert.equal(r.status, 0);
  for (const flag of ['--password-file', '--salt-file', '--filename-encryption', '--directory-name-encryption', '--obscured', 'symbolic links']) {
    assert.ok(r.stdout.includes(flag), flag);
  }
});

test('on a terminal, a summary goes to stderr', (t) => {
  const dir = scratch(t);
  // script(1), from Debian's essential bsdutils, gives the child a pseudo-terminal.
  const cmd = [process.execPath, WARD, 'dir', 'encrypt', join(dir, 'plain'), join(dir, 'enc'), '--password-file', join(dir, 'pw')]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
    .join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, WARD_DIR_PASSWORD_FILE: '' } });
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /ward: encrypted 2 files \(0\.0 MB\), 0 unchanged, 0 skipped/);
});
