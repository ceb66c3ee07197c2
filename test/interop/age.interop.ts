/**
 * Interop with the real `age` CLI (Debian's package, installed by test/interop/run.sh): files
 * Ward encrypts decrypt with `age -d`, and files `age` encrypts decrypt with `ward decrypt`, for
 * X25519 recipients, several recipients, a passphrase and armor. age reads passphrases only from a
 * terminal, so `age -p` and `age -d` of a passphrase file run under a pseudo-terminal
 * (test/formats/age/pty.ts) that types the passphrase at each prompt.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWithTty } from '../formats/age/pty.ts';
import { ok as spawnOk, run as spawnRun, WARD } from './spawn.ts';

let dir = '';
const p = (name: string): string => join(dir, name);
const run = (cmd: string, args: string[], env: Record<string, string> = {}) => spawnRun(cmd, args, dir, env);
const ok = (cmd: string, args: string[], env: Record<string, string> = {}) => spawnOk(cmd, args, dir, env);



const ward = (...args: string[]): Promise<string> => ok(process.execPath, [WARD, ...args]);

async function withTty(passphrase: string, ...argv: string[]): Promise<void> {
  const r = await runWithTty(passphrase, argv, dir);
  assert.equal(r.code, 0, `${argv.join(' ')} under a pty failed: ${r.transcript}`);
}

function same(a: string, b: string): void {
  // age -o creates its output lazily, on the first byte: an empty plaintext leaves no file.
  const got = existsSync(p(b)) ? readFileSync(p(b)) : Buffer.alloc(0);
  assert.ok(readFileSync(p(a)).equals(got), `${a} != ${b}`);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-age-interop-'));
  writeFileSync(p('plain.bin'), randomBytes(5 * 65536 + 123));
  writeFileSync(p('chunk.bin'), randomBytes(65536));
  writeFileSync(p('empty.bin'), Buffer.alloc(0));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('X25519: ward encrypts, age decrypts; age encrypts, ward decrypts (keys from both tools)', async () => {
  const wardRecipient = (await ward('keygen', '-o', 'ward.key')).trim();
  await ok('age-keygen', ['-o', 'age.key']);
  const ageRecipient = (await ok('age-keygen', ['-y', 'age.key'])).trim();
  for (const file of ['plain.bin', 'chunk.bin', 'empty.bin']) {
    for (const [recipient, key] of [[wardRecipient, 'ward.key'], [ageRecipient, 'age.key']] as const) {
      await ward('encrypt', '-r', recipient, '-o', `${file}.w.age`, file);
      await ok('age', ['-d', '-i', key, '-o', `${file}.w.out`, `${file}.w.age`]);
      same(file, `${file}.w.out`);
      await ok('age', ['-r', recipient, '-o', `${file}.a.age`, file]);
      await ward('decrypt', '-i', key, '-o', `${file}.a.out`, `${file}.a.age`);
      same(file, `${file}.a.out`);
    }
  }
  // age also reads ward's identity file format (age-keygen's).
  assert.equal((await ok('age-keygen', ['-y', 'ward.key'])).trim(), wardRecipient);
});

test('several recipients, both directions, each key opens the file', async () => {
  const r1 = (await ward('keygen', '-o', 'm1.key')).trim();
  await ok('age-keygen', ['-o', 'm2.key']);
  const r2 = (await ok('age-keygen', ['-y', 'm2.key'])).trim();
  writeFileSync(p('recipients.txt'), `# two\n${r1}\n${r2}\n`);
  await ward('encrypt', '-R', 'recipients.txt', '-o', 'm.w.age', 'plain.bin');
  await ok('age', ['-r', r1, '-r', r2, '-o', 'm.a.age', 'plain.bin']);
  for (const key of ['m1.key', 'm2.key']) {
    await ok('age', ['-d', '-i', key, '-o', `m.w.${key}.out`, 'm.w.age']);
    same('plain.bin', `m.w.${key}.out`);
    await ward('decrypt', '-i', key, '-o', `m.a.${key}.out`, 'm.a.age');
    same('plain.bin', `m.a.${key}.out`);
  }
});

test('armor, both directions', async () => {
  const r = (await ward('keygen', '-o', 'arm.key')).trim();
  await ward('encrypt', '-a', '-r', r, '-o', 'arm.w.age', 'plain.bin');
  assert.match(readFileSync(p('arm.w.age'), 'latin1'), /^-----BEGIN AGE ENCRYPTED FILE-----\n/);
  await ok('age', ['-d', '-i', 'arm.key', '-o', 'arm.w.out', 'arm.w.age']);
  same('plain.bin', 'arm.w.out');
  await ok('age', ['-a', '-r', r, '-o', 'arm.a.age', 'plain.bin']);
  await ward('decrypt', '-i', 'arm.key', '-o', 'arm.a.out', 'arm.a.age');
  same('plain.bin', 'arm.a.out');
});

test('passphrase (scrypt), both directions; age driven through a pseudo-terminal', async () => {
  const passphrase = 'interop correct horse';
  writeFileSync(p('pass.txt'), `${passphrase}\n`);
  await ward('encrypt', '-p', '--passphrase-file', 'pass.txt', '-o', 'pw.w.age', 'plain.bin');
  await withTty(passphrase, 'age', '-d', '-o', 'pw.w.out', 'pw.w.age');
  same('plain.bin', 'pw.w.out');
  await withTty(passphrase, 'age', '-p', '-o', 'pw.a.age', 'plain.bin');
  await ward('decrypt', '--passphrase-file', 'pass.txt', '-o', 'pw.a.out', 'pw.a.age');
  same('plain.bin', 'pw.a.out');
  // Armored passphrase file from age, and a wrong passphrase is a decryption failure.
  await withTty(passphrase, 'age', '-p', '-a', '-o', 'pw.a.asc', 'chunk.bin');
  await ward('decrypt', '--passphrase-file', 'pass.txt', '-o', 'pw.a.asc.out', 'pw.a.asc');
  same('chunk.bin', 'pw.a.asc.out');
  writeFileSync(p('wrong.txt'), 'nope\n');
  const bad = await run(process.execPath, [WARD, 'decrypt', '--passphrase-file', 'wrong.txt', 'pw.a.age']);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /ERR_AGE_NO_IDENTITY_MATCH/);
});

test('a file age refuses is refused by ward too: tampered chunk', async () => {
  const r = (await ward('keygen', '-o', 't.key')).trim();
  await ok('age', ['-r', r, '-o', 't.age', 'plain.bin']);
  const b = readFileSync(p('t.age'));
  b[b.length - 100]! ^= 1;
  writeFileSync(p('t.bad.age'), b);
  const age = await run('age', ['-d', '-i', 't.key', '-o', 't.age.out', 't.bad.age']);
  assert.notEqual(age.code, 0);
  const w = await run(process.execPath, [WARD, 'decrypt', '-i', 't.key', '-o', 't.ward.out', 't.bad.age']);
  assert.equal(w.code, 3);
  assert.match(w.stderr, /ERR_AGE_PAYLOAD/);
});
