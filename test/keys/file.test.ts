import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileKey, openFileKeyProvider } from '../../src/keys/file.ts';
import { openEnvelope, sealEnvelope } from '../../src/crypto/envelope.ts';

const dir = mkdtempSync(join(tmpdir(), 'ward-keys-'));

test('createFileKey writes 32 random bytes with mode 0600 and never overwrites', () => {
  const path = join(dir, 'master.key');
  createFileKey(path);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(readFileSync(path).length, 32);
  const before = readFileSync(path);
  assert.throws(() => createFileKey(path), { code: 'ERR_IO' });
  assert.deepEqual(readFileSync(path), before);
});

test('the file provider round-trips and has a stable key id', async () => {
  const path = join(dir, 'stable.key');
  createFileKey(path);
  const p1 = openFileKeyProvider(path);
  const env = await sealEnvelope(p1, Buffer.from('hello'), Buffer.from('aad'));
  const p2 = openFileKeyProvider(path);
  assert.equal(p1.keyId, p2.keyId);
  assert.match(p1.keyId, /^file:[0-9a-f]{16}$/);
  assert.deepEqual(await openEnvelope(p2, env, Buffer.from('aad')), Buffer.from('hello'));
});

test('refuses a group- or world-readable key, a wrong size, a missing file', () => {
  const loose = join(dir, 'loose.key');
  createFileKey(loose);
  chmodSync(loose, 0o640);
  assert.throws(() => openFileKeyProvider(loose), { code: 'ERR_KEY_INSECURE_PERMISSIONS' });
  chmodSync(loose, 0o604);
  assert.throws(() => openFileKeyProvider(loose), { code: 'ERR_KEY_INSECURE_PERMISSIONS' });
  const short = join(dir, 'short.key');
  writeFileSync(short, Buffer.alloc(31), { mode: 0o600 });
  assert.throws(() => openFileKeyProvider(short), { code: 'ERR_KEY_INVALID' });
  assert.throws(() => openFileKeyProvider(join(dir, 'absent.key')), { code: 'ERR_KEY_NOT_FOUND' });
});

test('seal drops the file key at once; unseal reloads it, refusing a file that now holds another key', async () => {
  const path = join(dir, 'reseal.key');
  createFileKey(path);
  const p = openFileKeyProvider(path);
  const env = await sealEnvelope(p, Buffer.from('v'), Buffer.from('aad'));
  assert.equal(p.sealed, false);
  p.seal();
  assert.equal(p.sealed, true);
  await assert.rejects(openEnvelope(p, env, Buffer.from('aad')), { code: 'ERR_KEY_SEALED' });
  assert.deepEqual(await p.unseal(), { sealed: false, have: 1, need: 1 });
  assert.deepEqual(await openEnvelope(p, env, Buffer.from('aad')), Buffer.from('v'));
  p.seal();
  writeFileSync(path, Buffer.alloc(32, 1), { mode: 0o600 });
  await assert.rejects(p.unseal(), { code: 'ERR_KEY_INVALID' });
  assert.equal(p.sealed, true);
});
