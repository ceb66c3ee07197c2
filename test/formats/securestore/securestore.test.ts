import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { decryptSecureStoreValue } from '../../../src/formats/securestore/index.ts';

// Encrypts as the Secure Store server did: hex(nonce ‖ AES-256-GCM ciphertext ‖ tag), no AAD.
function secureStore(key: Buffer, plaintext: string): string {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]).toString('hex');
}

test('newer data: key is SHA-256 of the password string', () => {
  const password = 'correct horse battery staple';
  const value = secureStore(createHash('sha256').update(password).digest(), 'postgres://u:p@db/app');
  assert.equal(decryptSecureStoreValue('ENCRYPTED_DB', value, Buffer.from(password)).toString(), 'postgres://u:p@db/app');
});

test('older data: the password is 64 hex digits used as the raw key', () => {
  const raw = randomBytes(32);
  const value = secureStore(raw, 'hunter2');
  assert.equal(decryptSecureStoreValue('ENCRYPTED_X', value, Buffer.from(raw.toString('hex'))).toString(), 'hunter2');
  // The same 64-hex password, hashed, also works for data written by the newer server.
  const hashed = secureStore(createHash('sha256').update(raw.toString('hex')).digest(), 'newer');
  assert.equal(decryptSecureStoreValue('ENCRYPTED_X', hashed, Buffer.from(raw.toString('hex'))).toString(), 'newer');
});

test('tampered, wrong key, not hex, too short: each a clear error naming the variable only', () => {
  const password = Buffer.from('pw');
  const value = secureStore(createHash('sha256').update('pw').digest(), 'the-secret-value');
  const flipped = value.slice(0, 30) + (value[30] === '0' ? '1' : '0') + value.slice(31);
  const check = (v: string, pw: Buffer, code: string) =>
    assert.throws(() => decryptSecureStoreValue('ENCRYPTED_API_KEY', v, pw), (e: Error & { code?: string }) => {
      assert.equal(e.code, code);
      assert.match(e.message, /ENCRYPTED_API_KEY/);
      assert.doesNotMatch(e.message, /the-secret-value|pw/);
      return true;
    });
  check(flipped, password, 'ERR_SECURESTORE_AUTH');
  check(value, Buffer.from('other'), 'ERR_SECURESTORE_AUTH');
  check('zz' + value, password, 'ERR_SECURESTORE_FORMAT');
  check('abcd', password, 'ERR_SECURESTORE_FORMAT');
});
