// `ward env` and `ward config` end to end, as child processes: flags, re-encryption, exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X25519Identity } from '../../src/formats/age/index.ts';

const WARD = new URL('../../bin/ward.js', import.meta.url).pathname;

function ward(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [WARD, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function scratch(t: { after: (fn: () => void) => void }): { dir: string; p: (n: string) => string; recipient: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ward-cli-valuefile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const id = X25519Identity.generate();
  writeFileSync(join(dir, 'key.txt'), `${id.toString()}\n`, { mode: 0o600 });
  return { dir, p: (n) => join(dir, n), recipient: id.recipient.toString() };
}

test('ward env: encrypt, decrypt, re-encrypt to the same file, tamper', (t) => {
  const { p, recipient } = scratch(t);
  const plain = '# db\nDB_USER=admin\nDB_PASSWORD="s3cr3t"\n';
  writeFileSync(p('.env'), plain);
  let r = ward('env', 'encrypt', p('.env'), '-r', recipient, '-o', p('.env.enc'));
  assert.equal(r.status, 0, r.stderr);
  const enc = readFileSync(p('.env.enc'), 'utf8');
  assert.match(enc, /^# db\nDB_USER=WARD\[v1:age:s:/);
  assert.ok(!enc.includes('s3cr3t'));
  r = ward('env', 'decrypt', p('.env.enc'), '-i', p('key.txt'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, plain);
  r = ward('env', 'decrypt', p('.env.enc'), '-i', p('key.txt'), '-o', p('out.env'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(statSync(p('out.env')).mode & 0o777, 0o600);
  // The output exists and is encrypted: -i is needed, then an unchanged file is rewritten identically.
  r = ward('env', 'encrypt', p('.env'), '-r', recipient, '-o', p('.env.enc'));
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /ERR_USAGE/);
  r = ward('env', 'encrypt', p('.env'), '-i', p('key.txt'), '-o', p('.env.enc'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(p('.env.enc'), 'utf8'), enc);
  // A tampered value: exit 3 (decryption failure), and the code is printed.
  writeFileSync(p('bad.env'), enc.replace(/^DB_USER=(.*)$/m, (_, v: string) => `DB_PASSWORD_COPY=${v}`));
  r = ward('env', 'decrypt', p('bad.env'), '-i', p('key.txt'));
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /ERR_VALUEFILE_/);
  assert.equal(r.stdout, '');
});

test('ward config: format from the extension or --format; missing recipients and unknown formats are usage errors', (t) => {
  const { p, recipient } = scratch(t);
  writeFileSync(p('app.yaml'), 'db:\n  password: s3cr3t # keep me\n');
  let r = ward('config', 'encrypt', p('app.yaml'), '-r', recipient);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /password: WARD\[v1:age:s:[^\]]+\] # keep me\n_ward:\n/);
  writeFileSync(p('app.conf'), r.stdout);
  r = ward('config', 'decrypt', p('app.conf'), '-i', p('key.txt'));
  assert.equal(r.status, 2, r.stderr);
  r = ward('config', 'decrypt', p('app.conf'), '--format', 'yaml', '-i', p('key.txt'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'db:\n  password: s3cr3t # keep me\n');
  r = ward('config', 'encrypt', p('app.yaml'));
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /missing recipients/);
});
