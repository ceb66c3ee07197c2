import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, existsSync, readFileSync, writeFileSync, truncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { copyImage, openDestination, openSource, passphraseWrapper } from '../../src/image/index.ts';
import type { CopyOptions } from '../../src/image/index.ts';
import { JweKeyWrapper } from '../../src/formats/ocicrypt/index.ts';
import type { KeyWrapper } from '../../src/formats/ocicrypt/index.ts';
import { indexTar } from '../../src/image/tar.ts';
import { writeLayout, readLayout, sha256, LABELLED_HISTORY } from './fixtures.ts';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const to = (...keys: typeof rsa.publicKey[]): KeyWrapper[] => [new JweKeyWrapper(keys.map((key) => ({ kind: 'public', key, alg: key.asymmetricKeyType === 'rsa' ? 'RSA-OAEP' : 'ECDH-ES+A256KW' })), [])];
const withKey = (...keys: typeof rsa.privateKey[]): KeyWrapper[] => [new JweKeyWrapper([], keys.map((key) => ({ kind: 'private', key })))];

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ward-image-'));
  test.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function copy(dir: string, src: string, dst: string, opts: CopyOptions = {}) {
  return copyImage(openSource(`oci:${join(dir, src)}`), openDestination(`oci:${join(dir, dst)}`), opts);
}

/** Uncompressed digests of the layers of a plain layout. */
async function diffIdsOf(dir: string): Promise<string[]> {
  const img = await readLayout(dir);
  return Promise.all(img.manifest.layers.map(async (l) => {
    assert.ok(!l.mediaType.endsWith('+encrypted'));
    const b = await img.blob(l.digest);
    return sha256(l.mediaType.endsWith('+gzip') ? gunzipSync(b) : b);
  }));
}

const encryptedIndexes = async (dir: string) => (await readLayout(dir)).manifest.layers.flatMap((l, i) => (l.mediaType.endsWith('+encrypted') ? [i] : []));
const leftovers = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('.ward-staging-'));

test('encrypt to RSA and EC, decrypt with either: the layers come back identical', async () => {
  const dir = tmp();
  const { diffIds, layers } = await writeLayout(join(dir, 'src'), LABELLED_HISTORY);
  const r = await copy(dir, 'src:latest', 'enc:latest', { encryptTo: to(rsa.publicKey, ec.publicKey) });
  assert.deepEqual(r.layers.map((l) => l.action), ['encrypted', 'encrypted', 'encrypted', 'encrypted']);
  const enc = await readLayout(join(dir, 'enc'));
  for (const [i, l] of enc.manifest.layers.entries()) {
    assert.equal(l.size, layers[i]!.length, 'AES-CTR keeps the size');
    assert.ok(l.annotations?.['org.opencontainers.image.enc.keys.jwe']);
    assert.ok(l.annotations?.['org.opencontainers.image.enc.pubopts']);
  }
  for (const key of [rsa.privateKey, ec.privateKey]) {
    const out = `dec-${key.asymmetricKeyType}`;
    await copy(dir, 'enc:latest', `${out}:latest`, { decryptWith: withKey(key) });
    const dec = await readLayout(join(dir, out));
    assert.deepEqual(dec.manifest.layers.map((l) => l.digest), layers.map(sha256));
    assert.deepEqual(await diffIdsOf(join(dir, out)), diffIds);
  }
  assert.deepEqual(leftovers(dir), []);
});

test('--encrypt-layer picks layers by index (negative from the top); labels pick the labelled range', async () => {
  const dir = tmp();
  await writeLayout(join(dir, 'src'), LABELLED_HISTORY);
  await copy(dir, 'src:latest', 'a:latest', { encryptTo: to(ec.publicKey), encryptLayers: [0, -1] });
  assert.deepEqual(await encryptedIndexes(join(dir, 'a')), [0, 3]);
  await copy(dir, 'src:latest', 'b:latest', { encryptTo: to(ec.publicKey), encryptLabelled: true });
  assert.deepEqual(await encryptedIndexes(join(dir, 'b')), [1, 2]);
  await assert.rejects(copy(dir, 'src:latest', 'c:latest', { encryptTo: to(ec.publicKey), encryptLayers: [4] }), { code: 'ERR_USAGE' });
  assert.ok(!existsSync(join(dir, 'c')));
});

test('an encrypted layer is not encrypted twice; with its key it gains a fresh encryption', async () => {
  const dir = tmp();
  const { diffIds } = await writeLayout(join(dir, 'src'), LABELLED_HISTORY);
  await copy(dir, 'src:latest', 'a:latest', { encryptTo: to(rsa.publicKey), encryptLayers: [1] });
  const warnings: string[] = [];
  const r = await copy(dir, 'a:latest', 'b:latest', { encryptTo: to(ec.publicKey), onWarning: (w) => warnings.push(w) });
  assert.deepEqual(r.layers.map((l) => l.action), ['encrypted', 'copied', 'encrypted', 'encrypted']);
  assert.equal(warnings.length, 1);
  const r2 = await copy(dir, 'a:latest', 'c:latest', { encryptTo: to(ec.publicKey), decryptWith: withKey(rsa.privateKey) });
  assert.equal(r2.layers[1]!.action, 'reencrypted');
  await copy(dir, 'c:latest', 'd:latest', { decryptWith: withKey(ec.privateKey) });
  assert.deepEqual(await diffIdsOf(join(dir, 'd')), diffIds);
});

test('passphrase (Ward-only PBES2): encrypts a plain image, decrypts an encrypted one', async () => {
  const dir = tmp();
  const { diffIds } = await writeLayout(join(dir, 'src'), LABELLED_HISTORY);
  const pw = passphraseWrapper(Buffer.from('correct horse battery staple'), 1000);
  await copy(dir, 'src:latest', 'enc:latest', { passphrase: pw });
  assert.deepEqual(await encryptedIndexes(join(dir, 'enc')), [0, 1, 2, 3]);
  await copy(dir, 'enc:latest', 'dec:latest', { passphrase: pw });
  assert.deepEqual(await diffIdsOf(join(dir, 'dec')), diffIds);
  await assert.rejects(copy(dir, 'enc:latest', 'nope:latest', { passphrase: passphraseWrapper(Buffer.from('wrong'), 1000) }), { code: 'ERR_OCICRYPT_NO_KEY' });
});

/** Replaces layer `i`'s blob by `mutate(blob)` and re-digests manifest and index, as an attacker could. */
async function tamper(layout: string, i: number, mutate: (b: Buffer) => Buffer): Promise<void> {
  const blobs = join(layout, 'blobs', 'sha256');
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
  const m = JSON.parse(readFileSync(join(blobs, index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; size: number }> };
  const blob = mutate(readFileSync(join(blobs, m.layers[i]!.digest.slice(7))));
  m.layers[i]!.digest = sha256(blob);
  m.layers[i]!.size = blob.length;
  writeFileSync(join(blobs, m.layers[i]!.digest.slice(7)), blob);
  const raw = Buffer.from(JSON.stringify(m));
  writeFileSync(join(blobs, sha256(raw).slice(7)), raw);
  index.manifests[0] = { ...index.manifests[0]!, digest: sha256(raw), size: raw.length };
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
}

test('decryption failures: wrong key, tampered layer, truncated layer, corrupt blob; nothing left behind', async () => {
  const dir = tmp();
  await writeLayout(join(dir, 'src'), LABELLED_HISTORY);
  await copy(dir, 'src:latest', 'enc:latest', { encryptTo: to(ec.publicKey) });
  await assert.rejects(copy(dir, 'enc:latest', 'out:latest', { decryptWith: withKey(other.privateKey) }), { code: 'ERR_OCICRYPT_NO_KEY' });
  await copy(dir, 'enc:latest', 'flipped:latest');
  await tamper(join(dir, 'flipped'), 2, (b) => {
    b[100]! ^= 1;
    return b;
  });
  await assert.rejects(copy(dir, 'flipped:latest', 'out:latest', { decryptWith: withKey(ec.privateKey) }), { code: 'ERR_OCICRYPT_HMAC_MISMATCH' });
  await copy(dir, 'enc:latest', 'short:latest');
  await tamper(join(dir, 'short'), 1, (b) => b.subarray(0, b.length - 10));
  await assert.rejects(copy(dir, 'short:latest', 'out:latest', { decryptWith: withKey(ec.privateKey) }), { code: 'ERR_OCICRYPT_HMAC_MISMATCH' });
  // A blob that does not match its descriptor: cut short, or changed in place.
  const enc = await readLayout(join(dir, 'enc'));
  const victim = join(dir, 'enc', 'blobs', 'sha256', enc.manifest.layers[3]!.digest.slice(7));
  const original = readFileSync(victim);
  truncateSync(victim, 100);
  await assert.rejects(copy(dir, 'enc:latest', 'out:latest', { decryptWith: withKey(ec.privateKey) }), { code: 'ERR_IMAGE_TRUNCATED' });
  const changed = Buffer.from(original);
  changed[0]! ^= 1;
  writeFileSync(victim, changed);
  await assert.rejects(copy(dir, 'enc:latest', 'out:latest', { decryptWith: withKey(ec.privateKey) }), { code: 'ERR_IMAGE_DIGEST_MISMATCH' });
  assert.ok(!existsSync(join(dir, 'out')), 'no decrypted image at the destination');
  assert.deepEqual(leftovers(dir), []);
});

test('a failed copy into an existing layout leaves its index and blobs as they were', async () => {
  const dir = tmp();
  await writeLayout(join(dir, 'src'), LABELLED_HISTORY);
  await copy(dir, 'src:latest', 'enc:latest', { encryptTo: to(ec.publicKey) });
  await copy(dir, 'src:latest', 'dst:old');
  const before = { index: readFileSync(join(dir, 'dst', 'index.json')), blobs: readdirSync(join(dir, 'dst', 'blobs', 'sha256')).sort() };
  await assert.rejects(copy(dir, 'enc:latest', 'dst:new', { decryptWith: withKey(other.privateKey) }), { code: 'ERR_OCICRYPT_NO_KEY' });
  assert.deepEqual(readFileSync(join(dir, 'dst', 'index.json')), before.index);
  assert.deepEqual(readdirSync(join(dir, 'dst', 'blobs', 'sha256')).sort(), before.blobs);
});

test('docker-archive out and back in: gzip layers are stored uncompressed, diff_ids hold', async () => {
  const dir = tmp();
  const { diffIds } = await writeLayout(join(dir, 'src'), LABELLED_HISTORY);
  await copy(dir, 'src:latest', 'enc:latest', { encryptTo: to(rsa.publicKey) });
  await assert.rejects(copyImage(openSource(`oci:${join(dir, 'enc')}`), openDestination(`docker-archive:${join(dir, 'x.tar')}`)), { code: 'ERR_IMAGE_UNSUPPORTED' });
  assert.ok(!existsSync(join(dir, 'x.tar')));
  await copyImage(openSource(`oci:${join(dir, 'enc')}`), openDestination(`docker-archive:${join(dir, 'img.tar')}:ward/test:1`), { decryptWith: withKey(rsa.privateKey) });
  const entries = await indexTar(join(dir, 'img.tar'));
  const manifest = JSON.parse(readFileSync(join(dir, 'img.tar')).subarray(entries.get('manifest.json')!.offset, entries.get('manifest.json')!.offset + entries.get('manifest.json')!.size).toString()) as Array<{ RepoTags: string[]; Layers: string[] }>;
  assert.deepEqual(manifest[0]!.RepoTags, ['ward/test:1']);
  assert.deepEqual(manifest[0]!.Layers, diffIds.map((d) => `${d.slice(7)}.tar`));
  await copyImage(openSource(`docker-archive:${join(dir, 'img.tar')}`), openDestination(`oci:${join(dir, 'back')}`), { encryptTo: to(ec.publicKey) });
  await copy(dir, 'back', 'plain:latest', { decryptWith: withKey(ec.privateKey) });
  assert.deepEqual(await diffIdsOf(join(dir, 'plain')), diffIds);
});
