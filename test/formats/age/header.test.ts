/** Header parsing limits, Bech32, and the fd / stream drivers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { createDecryptor, createEncryptor, encrypt, fdSink, fdSource, parseHeader, pump, serializeHeader, streamSink, streamSource, X25519Identity, X25519Recipient } from '../../../src/formats/age/index.ts';
import { bech32Decode, bech32Encode } from '../../../src/formats/age/bech32.ts';
import { MAX_LINE } from '../../../src/formats/age/header.ts';

test('parseHeader waits for more bytes, then round-trips', async () => {
  const ids = [X25519Identity.generate(), X25519Identity.generate()];
  const file = await encrypt(ids.map((i) => i.recipient), Buffer.from('x'));
  const parsed = parseHeader(file);
  assert.ok(parsed);
  assert.equal(parsed.header.stanzas.length, 2);
  for (let cut = 0; cut < parsed.length; cut++) assert.equal(parseHeader(file.subarray(0, cut)), null, `cut ${cut}`);
  assert.ok(serializeHeader(parsed.header).equals(file.subarray(0, parsed.length)));
});

test('an oversized header line is refused without waiting for its end', () => {
  const long = Buffer.concat([Buffer.from('age-encryption.org/v1\n-> X25519 '), Buffer.alloc(MAX_LINE + 10, 0x41)]);
  assert.throws(() => parseHeader(long), { code: 'ERR_AGE_HEADER', message: /line too long/ });
  assert.throws(() => parseHeader(Buffer.from('garbage that is not age')), { code: 'ERR_AGE_HEADER' });
});

test('bech32: BIP 173 vectors, case rules, and age keys', () => {
  assert.deepEqual(bech32Decode('A12UEL5L'), { hrp: 'A', data: Buffer.alloc(0) });
  assert.equal(bech32Decode('a12UEL5L'), null, 'mixed case');
  assert.equal(bech32Decode('a12uel5m'), null, 'bad checksum');
  const data = randomBytes(32);
  assert.deepEqual(bech32Decode(bech32Encode('age', data))?.data, data);
  assert.match(bech32Encode('AGE-SECRET-KEY-', data), /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
  const id = X25519Identity.generate();
  assert.equal(X25519Identity.parse(id.toString()).recipient.toString(), id.recipient.toString());
  assert.throws(() => X25519Recipient.parse(id.recipient.toString().toUpperCase()), { code: 'ERR_AGE_RECIPIENT' });
  assert.throws(() => X25519Identity.parse(id.toString().toLowerCase()), { code: 'ERR_AGE_IDENTITY' });
});

test('fd driver: file to file, small blocks, through both directions', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-age-'));
  try {
    const id = X25519Identity.generate();
    const plaintext = randomBytes(300_001);
    writeFileSync(join(dir, 'p'), plaintext);
    const run = async (from: string, to: string, t: Parameters<typeof pump>[1]): Promise<void> => {
      const inFd = openSync(join(dir, from), 'r');
      const outFd = openSync(join(dir, to), 'w');
      try {
        await pump(fdSource(inFd, 4099), t, fdSink(outFd));
      } finally {
        closeSync(inFd);
        closeSync(outFd);
      }
    };
    await run('p', 'c', await createEncryptor([id.recipient]));
    await run('c', 'd', createDecryptor([id]));
    assert.ok(readFileSync(join(dir, 'd')).equals(plaintext));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stream driver: Readable to Writable with backpressure', async () => {
  const id = X25519Identity.generate();
  const plaintext = randomBytes(200_000);
  const sink = new PassThrough({ highWaterMark: 1024 });
  const collected: Buffer[] = [];
  sink.on('data', (b: Buffer) => collected.push(b));
  await pump(streamSource(Readable.from([plaintext.subarray(0, 5), plaintext.subarray(5)])), await createEncryptor([id.recipient], { armor: true }), streamSink(sink));
  const out = new PassThrough();
  const plain: Buffer[] = [];
  out.on('data', (b: Buffer) => plain.push(b));
  await pump(streamSource(Readable.from([Buffer.concat(collected)])), createDecryptor([id]), streamSink(out));
  assert.ok(Buffer.concat(plain).equals(plaintext));
});

test('fdSource: a read-ahead abandoned after an error never crashes the process, and settled() lets the fd be closed safely', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-fdsource-'));
  const file = join(dir, 'in');
  writeFileSync(file, randomBytes(300_000));
  // In a child process of its own: an unhandled rejection there ends it with exit code 1.
  const script = `
    import { closeSync, openSync } from 'node:fs';
    const { fdSource } = await import(${JSON.stringify(new URL('../../../src/formats/age/index.ts', import.meta.url).href)});
    const file = ${JSON.stringify(file)};
    const fd1 = openSync(file, 'r');
    fdSource(fd1, 4096);   // a read is now in flight; closing under it makes it fail with nobody waiting
    closeSync(fd1);
    const fd2 = openSync(file, 'r');
    const source = fdSource(fd2, 4096);
    if ((await source.read()).length !== 4096) process.exit(3);
    await source.settled();
    closeSync(fd2);
    await new Promise((r) => setTimeout(r, 100));
    console.log('ok');`;
  try {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
