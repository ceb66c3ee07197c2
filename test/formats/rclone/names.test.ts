// rclone crypt names beyond the vendored vectors: round trips, unsafe names, strict decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NameCipher, deriveKeys } from '../../../src/formats/rclone/index.ts';
import { encodeBase32Hex } from '../../../src/formats/rclone/base32.ts';
import { addVersion, removeVersion } from '../../../src/formats/rclone/version.ts';
import { WardError } from '../../../src/errors.ts';

const keys = await deriveKeys(Buffer.from('potato'), Buffer.from('sausage'));
const names = new NameCipher(keys);
const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;

test('names of every length and script round-trip', () => {
  for (const n of ['a', 'ab.txt', 'x'.repeat(15), 'x'.repeat(16), 'x'.repeat(143), 'Größe ü.pdf', '日本語のファイル', 'emoji 🎉', '.hidden', 'a b  c']) {
    const enc = names.encryptFileName(n);
    assert.match(enc, /^[0-9a-v]+$/);
    assert.equal(names.decryptFileName(enc), n);
    assert.equal(names.decryptDirSegment(names.encryptDirSegment(n)), n);
  }
});

test('a name encrypted with another key, or changed, is ERR_RCLONE_NAME', async () => {
  const other = new NameCipher(await deriveKeys(Buffer.from('potato')));
  const enc = names.encryptFileName('secret.txt');
  assert.throws(() => other.decryptFileName(enc), code('ERR_RCLONE_NAME'));
  const changed = (enc[0] === 'a' ? 'b' : 'a') + enc.slice(1);
  assert.throws(() => names.decryptFileName(changed), code('ERR_RCLONE_NAME'));
  assert.throws(() => names.decryptFileName('secret.txt'), code('ERR_RCLONE_NAME'));
});

test('names that would escape the destination are refused', () => {
  for (const bad of ['..', '.', 'a/b', 'nul\0byte']) {
    const enc = names.encryptSegment(bad);
    assert.throws(() => names.decryptFileName(enc), code('ERR_RCLONE_NAME'), JSON.stringify(bad));
    assert.throws(() => names.decryptDirSegment(enc), code('ERR_RCLONE_NAME'), JSON.stringify(bad));
  }
  const off = new NameCipher(keys, { filenameEncryption: 'off' });
  assert.throws(() => off.decryptFileName('...bin'), code('ERR_RCLONE_NAME'));
});

test('non-canonical base32 (stray trailing bits) is refused', () => {
  const enc = names.encryptSegment('abc');
  const raw = encodeBase32Hex(randomBytes(16));
  assert.equal(raw.length, 26);
  // 16 bytes leave 2 spare bits in the last character: setting one makes a second spelling.
  const last = enc[enc.length - 1]!;
  const v = '0123456789abcdefghijklmnopqrstuv'.indexOf(last);
  const twin = enc.slice(0, -1) + '0123456789abcdefghijklmnopqrstuv'[v | 1];
  if (twin !== enc) assert.throws(() => names.decryptSegment(twin), code('ERR_RCLONE_NAME'));
});

test('version suffixes: only valid timestamps, before the extension', () => {
  assert.deepEqual(removeVersion('report-v2001-02-03-040506-123.txt'), { name: 'report.txt', version: '-v2001-02-03-040506-123' });
  assert.equal(removeVersion('report-v2001-02-30-040506-123.txt'), undefined, 'no 30 February');
  assert.equal(removeVersion('report-v2001-13-03-040506-123'), undefined);
  assert.equal(removeVersion('report-v2000-02-29-235959-999')?.name, 'report');
  assert.equal(removeVersion('report-v2100-02-29-235959-999'), undefined);
  assert.equal(removeVersion('-v2001-02-03-040506-123.x.y'), undefined);
  assert.equal(addVersion('a.tar', '-v2001-02-03-040506-123'), 'a-v2001-02-03-040506-123.tar');
  const enc = names.encryptFileName('report-v2001-02-03-040506-123.txt');
  assert.match(enc, /^[0-9a-v]+-v2001-02-03-040506-123$/);
  assert.equal(names.decryptFileName(enc), 'report-v2001-02-03-040506-123.txt');
});

test('directory name encryption off leaves directory segments in clear', () => {
  const n = new NameCipher(keys, { directoryNameEncryption: false });
  assert.equal(n.encryptDirSegment('photos'), 'photos');
  assert.equal(n.decryptDirSegment('photos'), 'photos');
  assert.match(n.encryptFileName('photos/cat.jpg'), /^photos\/[0-9a-v]+$/);
});
