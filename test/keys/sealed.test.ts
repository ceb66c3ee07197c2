import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEnvelope, sealEnvelope } from '../../src/crypto/envelope.ts';
import { keyIdFor } from '../../src/keys/file.ts';
import {
  initPassphrase, initShamir, openPassphraseKeyProvider, openSealedKey, openShamirKeyProvider, parseSealedKey, serializeSealedKey, writeSealedKey,
} from '../../src/keys/sealed.ts';
import { gfMul } from '../../src/keys/shamir.ts';
import { decodeShare, encodeShare } from '../../src/keys/shares.ts';

const dir = mkdtempSync(join(tmpdir(), 'ward-sealed-'));
let n = 0;
const file = (bytes: Buffer) => {
  const path = join(dir, `sealed-${n++}.key`);
  writeSealedKey(path, bytes);
  return path;
};
// Tests lower scrypt's cost explicitly; the default is 2^17.
const FAST = 10;
const aad = Buffer.from('app/env/name');

test('passphrase: starts sealed, wrong passphrase stays sealed, right one unseals, seal drops the key', async () => {
  const { sealedKey, keyId } = await initPassphrase({ passphrase: Buffer.from('correct horse'), scryptLogN: FAST });
  const path = file(sealedKey);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.throws(() => writeSealedKey(path, sealedKey), { code: 'ERR_EXISTS' });
  const p = openPassphraseKeyProvider(path);
  assert.equal(p.kind, 'passphrase');
  assert.equal(p.keyId, keyId);
  assert.match(keyId, /^passphrase:[0-9a-f]{16}$/);
  assert.equal(p.sealed, true);
  await assert.rejects(p.wrap(Buffer.alloc(32), aad), { code: 'ERR_KEY_SEALED' });
  await assert.rejects(p.unseal(Buffer.from('wrong horse')), { code: 'ERR_KEY_WRONG_PASSPHRASE' });
  assert.equal(p.sealed, true);
  await assert.rejects(p.unseal(), { code: 'ERR_PASSPHRASE' });
  assert.deepEqual(await p.unseal(Buffer.from('correct horse')), { sealed: false, have: 1, need: 1 });
  const env = await sealEnvelope(p, Buffer.from('secret'), aad);
  p.seal();
  assert.equal(p.sealed, true);
  await assert.rejects(openEnvelope(p, env, aad), { code: 'ERR_KEY_SEALED' });
  // another process opening the same file gets the same key
  const q = openPassphraseKeyProvider(path);
  await q.unseal(Buffer.from('correct horse'));
  assert.deepEqual(await openEnvelope(q, env, aad), Buffer.from('secret'));
  q.close();
  await assert.rejects(q.unseal(Buffer.from('correct horse')), { code: 'ERR_KEY_SEALED' });
});

test('passphrase: the default cost is N=2^17 and the file records it', async () => {
  const { sealedKey } = await initPassphrase({ passphrase: Buffer.from('x') });
  const parsed = parseSealedKey(sealedKey);
  assert.equal(parsed.params.method, 'passphrase');
  assert.equal(parsed.params.method === 'passphrase' && parsed.params.logN, 17);
  await assert.rejects(initPassphrase({ passphrase: Buffer.from('x'), scryptLogN: 9 }), TypeError);
  await assert.rejects(initPassphrase({ passphrase: Buffer.alloc(0), scryptLogN: FAST }), { code: 'ERR_PASSPHRASE' });
});

test('an existing key keeps its key id, so data sealed under `file` still opens', async () => {
  const raw = Buffer.alloc(32, 7);
  const keyId = keyIdFor('file', raw);
  const { sealedKey } = await initPassphrase({ passphrase: Buffer.from('pw'), scryptLogN: FAST, existing: { key: raw, keyId } });
  assert.deepEqual(raw, Buffer.alloc(32, 7), 'the caller\'s buffer is not consumed');
  const p = openPassphraseKeyProvider(file(sealedKey));
  assert.equal(p.keyId, keyId);
});

test('sealed key file: serialize(parse(b)) = b; tampering with any header byte is caught by the tag', async () => {
  const { sealedKey } = await initPassphrase({ passphrase: Buffer.from('pw'), scryptLogN: FAST });
  assert.deepEqual(serializeSealedKey(parseSealedKey(sealedKey)), sealedKey);
  // salt byte: parses, but the passphrase no longer opens it
  const salt = Buffer.from(sealedKey);
  salt[14]! ^= 1;
  const p = openPassphraseKeyProvider(file(salt));
  await assert.rejects(p.unseal(Buffer.from('pw')), { code: 'ERR_KEY_WRONG_PASSPHRASE' });
  // key id byte: also bound by the tag
  const id = Buffer.from(sealedKey);
  id[id.length - 61]! ^= 1;
  await assert.rejects(openPassphraseKeyProvider(file(id)).unseal(Buffer.from('pw')), { code: 'ERR_KEY_WRONG_PASSPHRASE' });
  const bad = [
    Buffer.concat([sealedKey, Buffer.of(0)]), sealedKey.subarray(0, sealedKey.length - 1), Buffer.from('WARDSKEZ'), Buffer.concat([sealedKey.subarray(0, 8), Buffer.of(2), sealedKey.subarray(9)]),
    Buffer.concat([sealedKey.subarray(0, 9), Buffer.of(9), sealedKey.subarray(10)]), Buffer.concat([sealedKey.subarray(0, 10), Buffer.of(30), sealedKey.subarray(11)]),
  ];
  for (const b of bad) assert.throws(() => parseSealedKey(b), { code: 'ERR_KEY_INVALID' });
  assert.throws(() => openShamirKeyProvider(file(sealedKey)), { code: 'ERR_KEY_INVALID', message: /passphrase provider/ });
  assert.throws(() => openPassphraseKeyProvider(join(dir, 'absent')), { code: 'ERR_KEY_NOT_FOUND' });
  const loose = file(sealedKey);
  chmodSync(loose, 0o640);
  assert.throws(() => openPassphraseKeyProvider(loose), { code: 'ERR_KEY_INSECURE_PERMISSIONS' });
});

test('shamir: 3 of 5 unseal, in any order; 2 do not; seal drops the key and pending shares', async () => {
  const { sealedKey, shares, keyId } = initShamir({ shares: 5, threshold: 3 });
  assert.equal(shares.length, 5);
  const path = file(sealedKey);
  const p = openShamirKeyProvider(path);
  assert.equal(p.keyId, keyId);
  assert.equal(p.sealed, true);
  assert.deepEqual(await p.submitShare(shares[4]!), { sealed: true, have: 1, need: 3 });
  assert.deepEqual(await p.submitShare(shares[1]!), { sealed: true, have: 2, need: 3 });
  await assert.rejects(p.wrap(Buffer.alloc(32), aad), { code: 'ERR_KEY_SEALED' });
  p.seal();
  assert.deepEqual(await p.unseal(), { sealed: true, have: 0, need: 3 });
  await p.submitShare(shares[4]!);
  await assert.rejects(p.submitShare(shares[4]!), { code: 'ERR_SHAMIR_SHARE_DUPLICATE' });
  await p.unseal(Buffer.from(shares[0]!));
  assert.deepEqual(await p.submitShare(shares[2]!), { sealed: false, have: 3, need: 3 });
  const env = await sealEnvelope(p, Buffer.from('v'), aad);
  const q = openShamirKeyProvider(path);
  for (const s of [shares[3]!, shares[1]!, shares[0]!]) await q.submitShare(s);
  assert.deepEqual(await openEnvelope(q, env, aad), Buffer.from('v'));
  p.seal();
  await assert.rejects(openEnvelope(p, env, aad), { code: 'ERR_KEY_SEALED' });
});

test('shamir: a share of another deployment is refused at once; a wrong share with a valid checksum fails the tag', async () => {
  const mine = initShamir({ shares: 3, threshold: 2 });
  const other = initShamir({ shares: 3, threshold: 2 });
  const p = openShamirKeyProvider(file(mine.sealedKey));
  await assert.rejects(p.submitShare(other.shares[0]!), { code: 'ERR_SHAMIR_SHARE_MISMATCH' });
  await assert.rejects(p.submitShare('ward-share-v1-1-nope'), { code: 'ERR_SHAMIR_SHARE_INVALID' });
  assert.equal(p.sealed, true);
  // a corrupted share re-encoded with a fresh checksum (same set id): only the AEAD tag can tell
  const good = decodeShare(mine.shares[0]!);
  good.value[0] = good.value[0]! ^ gfMul(1, 0x5a);
  await p.submitShare(encodeShare(good));
  await assert.rejects(p.submitShare(mine.shares[1]!), { code: 'ERR_SHAMIR_COMBINE_FAILED' });
  assert.deepEqual(await p.unseal(), { sealed: true, have: 0, need: 2 }, 'pending shares are discarded');
  await p.submitShare(mine.shares[2]!);
  assert.deepEqual(await p.submitShare(mine.shares[1]!), { sealed: false, have: 2, need: 2 });
  // a share index beyond the split's count
  const q = openShamirKeyProvider(file(mine.sealedKey));
  await assert.rejects(q.submitShare(encodeShare({ ...decodeShare(mine.shares[0]!), index: 9 })), { code: 'ERR_SHAMIR_SHARE_MISMATCH' });
  assert.throws(() => initShamir({ shares: 2, threshold: 3 }), { code: 'ERR_USAGE' });
  assert.throws(() => initShamir({ shares: 256, threshold: 3 }), { code: 'ERR_USAGE' });
  assert.equal(readFileSync(file(mine.sealedKey)).length, mine.sealedKey.length);
});

test('openSealedKey re-seals the same master key another way: new passphrase, passphrase to shamir, a new split', async () => {
  const first = await initPassphrase({ passphrase: Buffer.from('old'), scryptLogN: FAST });
  const p = openPassphraseKeyProvider(file(first.sealedKey));
  await p.unseal(Buffer.from('old'));
  const env = await sealEnvelope(p, Buffer.from('kept'), aad);
  await assert.rejects(openSealedKey(first.sealedKey, { passphrase: Buffer.from('nope') }), { code: 'ERR_KEY_WRONG_PASSPHRASE' });
  await assert.rejects(openSealedKey(first.sealedKey, { shares: [] }), TypeError);

  const existing = await openSealedKey(first.sealedKey, { passphrase: Buffer.from('old') });
  const renewed = await initPassphrase({ passphrase: Buffer.from('new'), scryptLogN: FAST, existing });
  const split = initShamir({ shares: 3, threshold: 2, existing });
  existing.key.fill(0);
  assert.equal(renewed.keyId, first.keyId);
  assert.equal(split.keyId, first.keyId);
  const q = openPassphraseKeyProvider(file(renewed.sealedKey));
  await assert.rejects(q.unseal(Buffer.from('old')), { code: 'ERR_KEY_WRONG_PASSPHRASE' });
  await q.unseal(Buffer.from('new'));
  assert.deepEqual(await openEnvelope(q, env, aad), Buffer.from('kept'));

  const fromShares = await openSealedKey(split.sealedKey, { shares: [split.shares[2]!, split.shares[0]!] });
  const resplit = initShamir({ shares: 5, threshold: 3, existing: fromShares });
  const r = openShamirKeyProvider(file(resplit.sealedKey));
  for (const s of resplit.shares.slice(2)) await r.submitShare(s);
  assert.deepEqual(await openEnvelope(r, env, aad), Buffer.from('kept'));
  const s = openShamirKeyProvider(file(split.sealedKey));
  await assert.rejects(s.submitShare(resplit.shares[0]!), { code: 'ERR_SHAMIR_SHARE_MISMATCH' }, 'old and new splits do not mix');
  await assert.rejects(openSealedKey(split.sealedKey, { shares: [split.shares[0]!] }), { code: 'ERR_USAGE' });
  await assert.rejects(openSealedKey(split.sealedKey, { shares: [split.shares[0]!, split.shares[0]!] }), { code: 'ERR_SHAMIR_SHARE_DUPLICATE' });
  await assert.rejects(openSealedKey(split.sealedKey, { shares: [split.shares[0]!, resplit.shares[1]!] }), { code: 'ERR_SHAMIR_SHARE_MISMATCH' });
});
