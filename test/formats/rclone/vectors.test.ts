// rclone's own test tables (test/vectors/rclone/README.md) run against Ward's implementation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  BlockOpener,
  BlockSealer,
  NameCipher,
  decryptedSize,
  deriveKeys,
  encryptStream,
  encryptedSize,
  incrementNonce,
  obscure,
  reveal,
} from '../../../src/formats/rclone/index.ts';
import { decodeBase32Hex, encodeBase32Hex } from '../../../src/formats/rclone/base32.ts';
import { WardError } from '../../../src/errors.ts';

type Pair = [string, string];
interface Vectors {
  base32_encode: Pair[];
  encrypt_segment_base32: Pair[];
  decrypt_segment_base32_errors: Pair[];
  encrypt_file_name_base32: Pair[];
  encrypt_file_name_base32_no_dir_encryption: Pair[];
  decrypt_file_name_base32: Pair[];
  encrypt_dir_name_base32: Pair[];
  decrypt_dir_name_base32: Pair[];
  names_off: { encrypt: Pair[]; decrypt: [string, string | null, string | null][]; decrypt_dir: Pair[] };
  encrypted_size: [number, number][];
  decrypted_size_errors: [number, string][];
  nonce_increment: Pair[];
  encrypt_data: { key: string; nonce: string; cases: Pair[] };
  keys: { password: string; salt: string; dataKey: string; nameKey: string; nameTweak: string }[];
  obscure: { password: string; obscured: string; iv: string }[];
}
const V = JSON.parse(readFileSync(new URL('../../vectors/rclone/cipher_test.json', import.meta.url), 'utf8')) as Vectors;

const zero = await deriveKeys(new Uint8Array(0));
const standard = new NameCipher(zero);
const noDirs = new NameCipher(zero, { directoryNameEncryption: false });
const off = new NameCipher(zero, { filenameEncryption: 'off' });

const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;

test('base32hex name encoding (TestEncodeFileNameBase32)', () => {
  for (const [plain, enc] of V.base32_encode) {
    assert.equal(encodeBase32Hex(Buffer.from(plain)), enc, plain);
    assert.equal(decodeBase32Hex(enc)?.toString(), plain);
    assert.equal(decodeBase32Hex(enc.toUpperCase())?.toString(), plain);
  }
  for (const bad of ['64=', '!', 'hello=hello', '65', '6']) assert.equal(decodeBase32Hex(bad), undefined, bad);
});

test('segment encryption, both ways and upper case (TestEncryptSegmentBase32)', () => {
  for (const [plain, enc] of V.encrypt_segment_base32) {
    assert.equal(standard.encryptSegment(plain), enc, plain);
    assert.equal(standard.decryptSegment(enc), plain);
    assert.equal(standard.decryptSegment(enc.toUpperCase()), plain);
  }
});

test('segment decryption errors (TestDecryptSegmentBase32)', () => {
  for (const [bad, why] of V.decrypt_segment_base32_errors) {
    assert.throws(() => standard.decryptSegment(bad), code('ERR_RCLONE_NAME'), why);
  }
});

test('file and directory paths, standard mode (TestStandard{En,De}crypt{File,Dir}NameBase32)', () => {
  for (const [plain, enc] of V.encrypt_file_name_base32) assert.equal(standard.encryptFileName(plain), enc);
  for (const [plain, enc] of V.encrypt_file_name_base32) assert.equal(standard.decryptFileName(enc), plain);
  for (const [plain, enc] of V.encrypt_file_name_base32_no_dir_encryption) {
    assert.equal(noDirs.encryptFileName(plain), enc);
    assert.equal(noDirs.decryptFileName(enc), plain);
  }
  for (const [enc, plain] of V.decrypt_file_name_base32) {
    assert.equal(standard.decryptFileName(enc), plain);
    assert.equal(standard.decryptFileName(enc.toUpperCase()), plain);
  }
  for (const [plain, enc] of V.encrypt_dir_name_base32) assert.equal(standard.encryptDirName(plain), enc);
  for (const [enc, plain] of V.decrypt_dir_name_base32) assert.equal(standard.decryptDirName(enc), plain);
  assert.equal(noDirs.encryptDirName('1/12/123'), '1/12/123');
});

test('off mode: .bin suffix, directories in clear (TestNonStandard*)', () => {
  for (const [plain, enc] of V.names_off.encrypt) assert.equal(off.encryptFileName(plain), enc);
  for (const [enc, plain, err] of V.names_off.decrypt) {
    if (err === null) assert.equal(off.decryptFileName(enc), plain);
    else assert.throws(() => off.decryptFileName(enc), code('ERR_RCLONE_NAME'), enc);
  }
  for (const [enc, plain] of V.names_off.decrypt_dir) assert.equal(off.decryptDirName(enc), plain);
  assert.equal(off.encryptDirName('1/12/123'), '1/12/123');
});

test('encrypted and decrypted sizes (TestEncryptedSize, TestDecryptedSize)', () => {
  for (const [plain, enc] of V.encrypted_size) {
    assert.equal(encryptedSize(plain), enc);
    assert.equal(decryptedSize(enc), plain);
  }
  for (const [size, err] of V.decrypted_size_errors) {
    const expected = err === 'ErrorEncryptedFileTooShort' ? 'ERR_RCLONE_HEADER' : 'ERR_RCLONE_TRUNCATED';
    assert.throws(() => decryptedSize(size), code(expected), String(size));
  }
});

test('nonce increment, little-endian carry (TestNonceIncrement)', () => {
  for (const [from, to] of V.nonce_increment) {
    const n = Buffer.from(from, 'hex');
    incrementNonce(n);
    assert.equal(n.toString('hex'), to);
  }
});

test('block encryption with a fixed nonce (TestEncryptData file0, file1, file16)', async () => {
  const key = Buffer.from(V.encrypt_data.key, 'hex');
  const nonce = Buffer.from(V.encrypt_data.nonce, 'hex');
  for (const [plainHex, encHex] of V.encrypt_data.cases) {
    const plain = Buffer.from(plainHex, 'hex');
    const sealer = new BlockSealer(key, nonce);
    const out = Buffer.alloc(plain.length + 16);
    const body = plain.length ? out.subarray(0, sealer.seal(plain, out)) : Buffer.alloc(0);
    assert.equal(Buffer.concat([sealer.header(), body]).toString('hex'), encHex);
    const streamed: Buffer[] = [];
    const s = encryptStream(key, nonce);
    s.on('data', (d: Buffer) => streamed.push(d));
    s.end(plain);
    await new Promise((r) => s.on('end', r));
    assert.equal(Buffer.concat(streamed).toString('hex'), encHex);
    const enc = Buffer.from(encHex, 'hex');
    const opener = new BlockOpener(key);
    opener.header(enc.subarray(0, 32));
    if (plain.length) {
      const back = Buffer.alloc(plain.length);
      assert.equal(opener.open(enc.subarray(32), back), plain.length);
      assert.deepEqual(back, plain);
    }
  }
});

test('key derivation by scrypt (TestKey)', async () => {
  for (const k of V.keys) {
    const keys = await deriveKeys(Buffer.from(k.password), Buffer.from(k.salt));
    assert.equal(keys.dataKey.toString('hex'), k.dataKey, `${k.password}/${k.salt}`);
    assert.equal(keys.nameKey.toString('hex'), k.nameKey);
    assert.equal(keys.nameTweak.toString('hex'), k.nameTweak);
  }
});

test('password obscuring (obscure_test.go)', () => {
  for (const o of V.obscure) {
    assert.equal(obscure(Buffer.from(o.password), Buffer.from(o.iv)), o.obscured);
    assert.equal(reveal(o.obscured).toString(), o.password);
  }
  assert.throws(() => reveal('not base64!'), code('ERR_RCLONE_OBSCURED'));
  assert.throws(() => reveal('YWFh'), code('ERR_RCLONE_OBSCURED'));
});
