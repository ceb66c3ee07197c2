/**
 * End-to-end tests of `ward keygen`, `ward encrypt` and `ward decrypt` through real processes:
 * key files, recipients and identity files, passphrases from a file, an fd and the environment,
 * armor, the terminal refusal, and bad input (each a one-line error with its code, exit 3, and no
 * output file left behind).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWithTty } from '../formats/age/pty.ts';

const WARD = new URL('../../bin/ward.js', import.meta.url).pathname;
let dir = '';

interface Result {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function ward(args: string[], opts: { input?: Buffer; env?: Record<string, string>; fd3?: Buffer } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WARD, ...args], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe', ...(opts.fd3 ? ['pipe' as const] : [])],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    if (opts.fd3) (child.stdio[3] as NodeJS.WritableStream).end(opts.fd3);
    // Ward may stop reading early on bad input (that is the point): ignore EPIPE.
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? Buffer.alloc(0));
  });
}

const path = (name: string): string => join(dir, name);

async function keygen(name: string): Promise<string> {
  const r = await ward(['keygen', '-o', name]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.toString().trim();
}

/** The error contract: one `ward: error: … (CODE)` line, no stack trace. */
function assertError(r: Result, code: string, exit: number): void {
  assert.equal(r.code, exit, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0]!, new RegExp(`^ward: error: [^\\n]+ \\(${code}\\)$`), r.stderr);
  assert.ok(lines.slice(1).every((l) => l.startsWith('ward: hint: ')), `only hints may follow: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-age-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('keygen -o writes an age-keygen style identity file with mode 0600 and prints the recipient', async () => {
  const recipient = await keygen('key.txt');
  assert.match(recipient, /^age1[02-9ac-hj-np-z]{58}$/);
  const text = readFileSync(path('key.txt'), 'utf8');
  assert.match(text, /^# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\n# public key: age1\S+\nAGE-SECRET-KEY-1[0-9A-Z]{58}\n$/);
  assert.ok(text.includes(`# public key: ${recipient}\n`));
  assert.equal(statSync(path('key.txt')).mode & 0o777, 0o600);
  const again = await ward(['keygen', '-o', 'key.txt']);
  assertError(again, 'ERR_EXISTS', 7);
  assert.equal(readFileSync(path('key.txt'), 'utf8'), text, 'existing key untouched');
});

test('keygen without -o prints the identity file to stdout', async () => {
  const r = await ward(['keygen']);
  assert.equal(r.code, 0);
  assert.match(r.stdout.toString(), /^# created: .+\n# public key: (age1\S+)\nAGE-SECRET-KEY-1\S+\n$/);
  assert.match(r.stderr, /^ward: public key: age1/);
});

test('encrypt -r / decrypt -i round trip through files and through pipes', async () => {
  const recipient = await keygen('rt.key');
  const plaintext = randomBytes(200_000);
  writeFileSync(path('rt.bin'), plaintext);
  let r = await ward(['encrypt', '-r', recipient, '-o', 'rt.age', 'rt.bin']);
  assert.equal(r.code, 0, r.stderr);
  r = await ward(['decrypt', '-i', 'rt.key', '-o', 'rt.out', 'rt.age']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(path('rt.out')).equals(plaintext));
  assert.equal(statSync(path('rt.out')).mode & 0o077, 0, 'decrypted output is private');

  const enc = await ward(['encrypt', '-r', recipient], { input: plaintext });
  assert.equal(enc.code, 0, enc.stderr);
  const dec = await ward(['decrypt', '-i', 'rt.key'], { input: enc.stdout });
  assert.equal(dec.code, 0, dec.stderr);
  assert.ok(dec.stdout.equals(plaintext));
});

test('-R recipients files with comments, several recipients, and -i files with several keys', async () => {
  const r1 = await keygen('m1.key');
  const r2 = await keygen('m2.key');
  writeFileSync(path('recipients.txt'), `# team\n${r1}\n\n   # laptop\n${r2}\r\n`);
  const r = await ward(['encrypt', '-R', 'recipients.txt', '-o', 'm.age'], { input: Buffer.from('to both') });
  assert.equal(r.code, 0, r.stderr);
  for (const key of ['m1.key', 'm2.key']) {
    const d = await ward(['decrypt', '-i', key, 'm.age']);
    assert.equal(d.stdout.toString(), 'to both', key);
  }
  // An identity file with an unrelated key first, then the right one.
  await keygen('other.key');
  writeFileSync(path('both.key'), readFileSync(path('other.key'), 'utf8') + '\n# second\n' + readFileSync(path('m2.key'), 'utf8'));
  const d = await ward(['decrypt', '-i', 'both.key', 'm.age']);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(d.stdout.toString(), 'to both');
  writeFileSync(path('bad-recipients.txt'), `${r1}\nnot-a-recipient\n`);
  assertError(await ward(['encrypt', '-R', 'bad-recipients.txt'], { input: Buffer.from('x') }), 'ERR_AGE_RECIPIENT', 2);
});

test('passphrases from --passphrase-file, --passphrase-fd and WARD_PASSPHRASE_FILE, with armor', async () => {
  writeFileSync(path('pass.txt'), 'correct horse battery staple\n');
  const e = await ward(['encrypt', '-p', '-a', '--passphrase-file', 'pass.txt'], { input: Buffer.from('secret text') });
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout.toString(), /^-----BEGIN AGE ENCRYPTED FILE-----\n/);
  const byFd = await ward(['decrypt', '--passphrase-fd', '3'], { input: e.stdout, fd3: Buffer.from('correct horse battery staple\n') });
  assert.equal(byFd.code, 0, byFd.stderr);
  assert.equal(byFd.stdout.toString(), 'secret text');
  const byEnv = await ward(['decrypt'], { input: e.stdout, env: { WARD_PASSPHRASE_FILE: path('pass.txt') } });
  assert.equal(byEnv.stdout.toString(), 'secret text');
  writeFileSync(path('wrong.txt'), 'wrong\n');
  assertError(await ward(['decrypt', '--passphrase-file', 'wrong.txt'], { input: e.stdout }), 'ERR_AGE_NO_IDENTITY_MATCH', 3);
});

test('usage errors: no recipients, -p with -r, bad recipient, missing input', async () => {
  assertError(await ward(['encrypt'], { input: Buffer.from('x') }), 'ERR_USAGE', 2);
  const recipient = await keygen('u.key');
  assertError(await ward(['encrypt', '-p', '-r', recipient], { input: Buffer.from('x') }), 'ERR_USAGE', 2);
  assertError(await ward(['encrypt', '-r', 'age1nope'], { input: Buffer.from('x') }), 'ERR_AGE_RECIPIENT', 2);
  assertError(await ward(['decrypt', '-i', 'u.key', 'does-not-exist.age']), 'ERR_IO', 9);
});

test('binary output to a terminal is refused without -a', async () => {
  const recipient = await keygen('tty.key');
  // script(1) gives the command a pseudo-terminal as stdout; -e returns its exit code.
  const cmd = `${process.execPath} ${WARD} encrypt -r ${recipient} /dev/null`;
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } });
  const out: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const text = Buffer.concat(out).toString();
  assert.equal(code, 2, text);
  assert.match(text, /ward: error: refusing to output binary to the terminal \(ERR_USAGE\)/);
  assert.match(text, /-a\/--armor/);
});

test('bad input fails with a one-line error, its code, exit 3, and no output file', async () => {
  const recipient = await keygen('bad.key');
  const other = await keygen('bad-other.key');
  const plaintext = randomBytes(3 * 65536 + 100);
  writeFileSync(path('bad.bin'), plaintext);
  assert.equal((await ward(['encrypt', '-r', recipient, '-r', other, '-o', 'good.age', 'bad.bin'])).code, 0);
  const good = readFileSync(path('good.age'));
  const headerEnd = good.indexOf('\n---') + 1 + good.subarray(good.indexOf('\n---') + 1).indexOf('\n') + 1;

  const cases: Array<[string, Buffer, string, string]> = [
    ['truncated payload', good.subarray(0, good.length - 1000), 'ERR_AGE_PAYLOAD', 'bad.key'],
    ['truncated at a chunk boundary', good.subarray(0, headerEnd + 16 + 65552), 'ERR_AGE_PAYLOAD', 'bad.key'],
    ['truncated header', good.subarray(0, 60), 'ERR_AGE_HEADER', 'bad.key'],
    ['wrong identity', good, 'ERR_AGE_NO_IDENTITY_MATCH', 'u.key'],
    ['tampered header', tamperStanza(good), 'ERR_AGE_HMAC_MISMATCH', 'bad.key'],
    ['tampered chunk', tamper(good, headerEnd + 16 + 65552 + 10), 'ERR_AGE_PAYLOAD', 'bad.key'],
    ['oversized header line', Buffer.concat([Buffer.from('age-encryption.org/v1\n-> X25519 '), Buffer.alloc(100_000, 0x41), Buffer.from('\n')]), 'ERR_AGE_HEADER', 'bad.key'],
    ['garbage armor', Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\nnot base64 at all!\n-----END AGE ENCRYPTED FILE-----\n'), 'ERR_AGE_ARMOR', 'bad.key'],
    ['not an age file', Buffer.from('hello world\n'), 'ERR_AGE_HEADER', 'bad.key'],
  ];
  for (const [name, input, code, key] of cases) {
    writeFileSync(path('in.age'), input);
    const r = await ward(['decrypt', '-i', key, '-o', 'out.bin', 'in.age']);
    assertError(r, code, 3);
    assert.ok(!existsSync(path('out.bin')), `${name}: no output file`);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], `${name}: no temp file left`);
    const piped = await ward(['decrypt', '-i', key], { input });
    assertError(piped, code, 3);
  }
});

// Changes the first character of the last stanza's body to another base64 letter, so the header
// still parses (canonical base64) and only the MAC can notice.
function tamperStanza(b: Buffer): Buffer {
  const c = Buffer.from(b);
  const at = c.lastIndexOf('\n', c.indexOf('\n---') - 1) + 1;
  c[at] = c[at] === 0x41 ? 0x42 : 0x41;
  return c;
}

function tamper(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at]! ^= 0x01;
  return c;
}

test('a reader that goes away (EPIPE) is an I/O error, not a crash', async () => {
  const recipient = await keygen('pipe.key');
  const big = randomBytes(4 * 1024 * 1024);
  const enc = await ward(['encrypt', '-r', recipient], { input: big });
  assert.equal(enc.code, 0, enc.stderr);
  const child = spawn(process.execPath, [WARD, 'decrypt', '-i', 'pipe.key'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.on('error', () => {});
  child.stdin.end(enc.stdout);
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assertError({ code, stdout: Buffer.alloc(0), stderr }, 'ERR_IO', 9);
});

test('-p asks on the terminal without echo, twice, and decrypt asks once', async () => {
  writeFileSync(path('tty.bin'), 'typed secret');
  const enc = await runWithTty('tty secret words', [process.execPath, WARD, 'encrypt', '-p', '-o', 'tty.age', 'tty.bin'], dir);
  assert.equal(enc.code, 0, enc.transcript);
  assert.match(enc.transcript, /enter passphrase:.*\n?[\s\S]*confirm passphrase:/);
  assert.doesNotMatch(enc.transcript, /tty secret words/, 'no echo');
  const dec = await runWithTty('tty secret words', [process.execPath, WARD, 'decrypt', '-o', 'tty.out', 'tty.age'], dir);
  assert.equal(dec.code, 0, dec.transcript);
  assert.equal(readFileSync(path('tty.out'), 'utf8'), 'typed secret');
  const wrong = await runWithTty('not it', [process.execPath, WARD, 'decrypt', '-o', 'tty.wrong', 'tty.age'], dir);
  assert.equal(wrong.code, 3, wrong.transcript);
  assert.match(wrong.transcript, /ERR_AGE_NO_IDENTITY_MATCH/);
  assert.ok(!existsSync(path('tty.wrong')));
});
