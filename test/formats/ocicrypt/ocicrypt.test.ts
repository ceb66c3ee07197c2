import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  decryptJwe, encryptJwe, JweKeyWrapper, LayerDecryptor, LayerEncryptor, stageTransform, parsePrivateKey, parsePublicKey,
  parsePrivateOptions, serializePrivateOptions, unwrapLayerOptions, wrapLayerKeys, encryptedMediaType,
  decryptedMediaType, isEncryptedLayer, withoutEncryptionAnnotations, ANNOTATION_JWE, ANNOTATION_PUBOPTS,
} from '../../../src/formats/ocicrypt/index.ts';
import type { JweRecipient, Stage } from '../../../src/formats/ocicrypt/index.ts';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const pem = (k: { export(o: object): string | Buffer }, type: string, format = 'pem') => Buffer.from(k.export({ type, format }) as string);

async function collect(src: Buffer, ...stages: Stage[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // Feed in odd-sized pieces to cross internal chunk boundaries.
  const pieces: Buffer[] = [];
  for (let i = 0; i < src.length; i += 7777) pieces.push(src.subarray(i, i + 7777));
  let stream: NodeJS.ReadableStream = Readable.from(pieces);
  stream = stream.pipe(stageTransform(...stages));
  await pipeline(stream, async (s: AsyncIterable<Buffer | string>) => {
    for await (const c of s) chunks.push(Buffer.from(c));
  });
  return Buffer.concat(chunks);
}

test('media types gain and lose +encrypted; docker types become OCI', () => {
  assert.equal(encryptedMediaType('application/vnd.oci.image.layer.v1.tar+gzip'), 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted');
  assert.equal(encryptedMediaType('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted');
  assert.equal(encryptedMediaType('application/vnd.oci.image.layer.v1.tar+encrypted'), 'application/vnd.oci.image.layer.v1.tar+encrypted');
  assert.equal(decryptedMediaType('application/vnd.oci.image.layer.v1.tar+zstd+encrypted'), 'application/vnd.oci.image.layer.v1.tar+zstd');
  assert.equal(isEncryptedLayer({ mediaType: 'x', digest: 'd', size: 1, annotations: { [ANNOTATION_JWE]: 'a' } }), true);
  assert.deepEqual(withoutEncryptionAnnotations({ [ANNOTATION_JWE]: 'a', [ANNOTATION_PUBOPTS]: 'b', keep: 'c' }), { keep: 'c' });
});

test('private options serialize as ocicrypt (Go encoding/json) and parse back', () => {
  const p = { symkey: Buffer.alloc(32, 1), digest: 'sha256:' + '0'.repeat(64), cipheroptions: { nonce: Buffer.alloc(16, 2) } };
  const s = serializePrivateOptions(p);
  assert.equal(s.toString(), `{"symkey":"${Buffer.alloc(32, 1).toString('base64')}","digest":"sha256:${'0'.repeat(64)}","cipheroptions":{"nonce":"${Buffer.alloc(16, 2).toString('base64')}"}}`);
  assert.deepEqual(parsePrivateOptions(s), p);
  assert.throws(() => parsePrivateOptions(Buffer.from('{"symkey":"!!","digest":"x"}')), { code: 'ERR_OCICRYPT_FORMAT' });
  assert.throws(() => parsePrivateOptions(Buffer.from('[]')), { code: 'ERR_OCICRYPT_FORMAT' });
});

for (const size of [0, 1, 15, 16, 17, 65536, 200_001]) {
  test(`AES_256_CTR_HMAC_SHA256 round trip, ${size} bytes`, async () => {
    const plain = randomBytes(size);
    const enc = new LayerEncryptor('sha256:' + createHash('sha256').update(plain).digest('hex'));
    const ct = await collect(plain, enc);
    assert.equal(ct.length, plain.length);
    const { priv, pub } = enc.options();
    assert.equal(priv.cipheroptions.nonce!.length, 16);
    assert.deepEqual(await collect(ct, new LayerDecryptor(priv, pub)), plain);
    if (size > 0) {
      const bad = Buffer.from(ct);
      bad[size - 1]! ^= 1;
      await assert.rejects(collect(bad, new LayerDecryptor(priv, pub)), { code: 'ERR_OCICRYPT_HMAC_MISMATCH' });
      await assert.rejects(collect(ct.subarray(0, size - 1), new LayerDecryptor(priv, pub)), { code: 'ERR_OCICRYPT_HMAC_MISMATCH' });
    }
  });
}

test('JWE: RSA-OAEP, RSA-OAEP-256, ECDH-ES+A256KW, P-384 and PBES2 recipients, one or several', () => {
  const data = Buffer.from('{"symkey":"secret"}');
  const recipients: JweRecipient[] = [
    { kind: 'public', key: rsa.publicKey, alg: 'RSA-OAEP' },
    { kind: 'public', key: rsa.publicKey, alg: 'RSA-OAEP-256' },
    { kind: 'public', key: ec.publicKey, alg: 'ECDH-ES+A256KW' },
    { kind: 'public', key: ec384.publicKey, alg: 'ECDH-ES+A128KW' },
    { kind: 'passphrase', passphrase: Buffer.from('correct horse'), iterations: 1000 },
  ];
  for (const r of recipients) {
    const one = JSON.parse(encryptJwe(data, [r])) as Record<string, unknown>;
    assert.equal(one.recipients, undefined, 'a single recipient is written flattened');
    const hdr = JSON.parse(Buffer.from(one.protected as string, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(hdr.enc, 'A256GCM');
  }
  const jwe = encryptJwe(data, recipients);
  assert.equal((JSON.parse(jwe) as { recipients: unknown[] }).recipients.length, 5);
  assert.deepEqual(decryptJwe(jwe, [{ kind: 'private', key: rsa.privateKey }]), data);
  assert.deepEqual(decryptJwe(jwe, [{ kind: 'private', key: ec.privateKey }]), data);
  assert.deepEqual(decryptJwe(jwe, [{ kind: 'private', key: ec384.privateKey }]), data);
  assert.deepEqual(decryptJwe(jwe, [{ kind: 'passphrase', passphrase: Buffer.from('correct horse') }]), data);
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  assert.equal(decryptJwe(jwe, [{ kind: 'private', key: other.privateKey }, { kind: 'passphrase', passphrase: Buffer.from('wrong') }]), null);
  assert.throws(() => decryptJwe('{"protected":"e30","ciphertext":"!"}', []), { code: 'ERR_OCICRYPT_FORMAT' });
  const tampered = JSON.parse(jwe) as Record<string, string>;
  tampered.ciphertext = Buffer.from('x').toString('base64url');
  assert.throws(() => decryptJwe(JSON.stringify(tampered), [{ kind: 'private', key: rsa.privateKey }]), { code: 'ERR_OCICRYPT_FORMAT' });
});

test('JWE: PBES2 iteration counts above the bound are refused', () => {
  const jwe = JSON.parse(encryptJwe(Buffer.from('x'), [{ kind: 'passphrase', passphrase: Buffer.from('p'), iterations: 1000 }])) as Record<string, string>;
  const hdr = JSON.parse(Buffer.from(jwe.protected!, 'base64url').toString()) as Record<string, unknown>;
  hdr.p2c = 1e9;
  jwe.protected = Buffer.from(JSON.stringify(hdr)).toString('base64url');
  assert.throws(() => decryptJwe(JSON.stringify(jwe), [{ kind: 'passphrase', passphrase: Buffer.from('p') }]), { code: 'ERR_OCICRYPT_UNSUPPORTED' });
});

test('keys: PEM SPKI, PKCS#1 public, JWK with alg; PKCS#8, SEC1, PKCS#1, encrypted PKCS#8 and JWK private keys', () => {
  assert.equal(parsePublicKey(pem(rsa.publicKey, 'spki')).alg, 'RSA-OAEP');
  assert.equal(parsePublicKey(pem(rsa.publicKey, 'pkcs1')).alg, 'RSA-OAEP');
  assert.equal(parsePublicKey(pem(ec.publicKey, 'spki')).alg, 'ECDH-ES+A256KW');
  assert.equal(parsePublicKey(pem(ec.publicKey, 'spki', 'der')).alg, 'ECDH-ES+A256KW');
  const jwk = { ...rsa.publicKey.export({ format: 'jwk' }), alg: 'RSA-OAEP-256' };
  assert.equal(parsePublicKey(Buffer.from(JSON.stringify(jwk))).alg, 'RSA-OAEP-256');
  assert.throws(() => parsePublicKey(Buffer.from(JSON.stringify({ ...jwk, alg: 'RSA1_5' }))), { code: 'ERR_OCICRYPT_KEY' });
  assert.throws(() => parsePublicKey(Buffer.from('nonsense')), { code: 'ERR_OCICRYPT_KEY' });
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  assert.throws(() => parsePublicKey(pem(small.publicKey, 'spki')), { code: 'ERR_OCICRYPT_KEY' });
  for (const type of ['pkcs8', 'sec1']) assert.equal(parsePrivateKey(pem(ec.privateKey, type)).asymmetricKeyType, 'ec');
  assert.equal(parsePrivateKey(pem(ec.privateKey, 'sec1', 'der')).asymmetricKeyType, 'ec');
  assert.equal(parsePrivateKey(pem(rsa.privateKey, 'pkcs1')).asymmetricKeyType, 'rsa');
  assert.equal(parsePrivateKey(Buffer.from(JSON.stringify(ec.privateKey.export({ format: 'jwk' })))).asymmetricKeyType, 'ec');
  const enc = Buffer.from(rsa.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string);
  assert.equal(parsePrivateKey(enc, Buffer.from('pw')).asymmetricKeyType, 'rsa');
  assert.throws(() => parsePrivateKey(enc, Buffer.from('nope')), { code: 'ERR_OCICRYPT_KEY' });
});

test('layer keys: wrapped for several recipients, comma-joined, unwrapped by any; wrong key fails clearly', async () => {
  const enc = new LayerEncryptor('sha256:' + 'a'.repeat(64));
  await collect(Buffer.from('hello'), enc);
  const { priv, pub } = enc.options();
  const a = await wrapLayerKeys([new JweKeyWrapper([{ kind: 'public', key: rsa.publicKey, alg: 'RSA-OAEP' }], [])], priv, pub);
  // Adding a recipient keeps the existing wrapped keys, comma-separated.
  const ann = await wrapLayerKeys([new JweKeyWrapper([{ kind: 'public', key: ec.publicKey, alg: 'ECDH-ES+A256KW' }], [])], priv, pub, a);
  assert.equal(ann[ANNOTATION_JWE]!.split(',').length, 2);
  assert.ok(ann[ANNOTATION_PUBOPTS]);
  for (const key of [rsa.privateKey, ec.privateKey]) {
    const got = await unwrapLayerOptions(ann, [new JweKeyWrapper([], [{ kind: 'private', key }])]);
    assert.deepEqual(got.priv, priv);
    assert.deepEqual(got.pub, pub);
  }
  await assert.rejects(unwrapLayerOptions(ann, [new JweKeyWrapper([], [{ kind: 'private', key: ec384.privateKey }])]), { code: 'ERR_OCICRYPT_NO_KEY' });
});

test('JWE: one PBES2 salt and key derivation per passphrase buffer, shared by the layers of a copy', () => {
  const pw = Buffer.from('pw');
  const hdr = (jwe: string) => JSON.parse(Buffer.from((JSON.parse(jwe) as { protected: string }).protected, 'base64url').toString()) as { p2s: string };
  const a = encryptJwe(Buffer.from('1'), [{ kind: 'passphrase', passphrase: pw, iterations: 1000 }]);
  const b = encryptJwe(Buffer.from('2'), [{ kind: 'passphrase', passphrase: pw, iterations: 1000 }]);
  const c = encryptJwe(Buffer.from('3'), [{ kind: 'passphrase', passphrase: Buffer.from('pw'), iterations: 1000 }]);
  assert.equal(hdr(a).p2s, hdr(b).p2s);
  assert.notEqual(hdr(a).p2s, hdr(c).p2s);
  assert.deepEqual(decryptJwe(b, [{ kind: 'passphrase', passphrase: Buffer.from('pw') }]), Buffer.from('2'));
});
