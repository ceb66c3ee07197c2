import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config.ts';
import { createFileKey, initPassphrase, initShamir, openKeyProvider, readPkcs11Pin, writeSealedKey } from '../../src/keys/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'ward-keys-index-'));
const config = (keys: string) => parseConfig(`[keys]\n${keys}\n`, join(dir, 'ward.toml'));

test('[keys] provider picks the provider; sealed ones start sealed, with their default file name', async () => {
  createFileKey(join(dir, 'master.key'));
  const file = openKeyProvider(config('provider = "file"').keys);
  assert.equal(file.kind, 'file');
  assert.equal(file.sealed, false);

  writeSealedKey(join(dir, 'master.sealed'), (await initPassphrase({ passphrase: Buffer.from('pw'), scryptLogN: 10 })).sealedKey);
  const keys = config('provider = "passphrase"').keys;
  assert.equal(keys.path, join(dir, 'master.sealed'));
  const pass = openKeyProvider(keys);
  assert.equal(pass.kind, 'passphrase');
  assert.equal(pass.sealed, true);
  assert.deepEqual(await pass.unseal(Buffer.from('pw')), { sealed: false, have: 1, need: 1 });

  const { sealedKey, shares } = initShamir({ shares: 3, threshold: 2 });
  writeSealedKey(join(dir, 'shamir.sealed'), sealedKey);
  const shamir = openKeyProvider(config('provider = "shamir"\npath = "shamir.sealed"').keys);
  assert.equal(shamir.sealed, true);
  await shamir.unseal(Buffer.from(shares[0]!));
  assert.deepEqual(await shamir.unseal(Buffer.from(shares[2]!)), { sealed: false, have: 2, need: 2 });
});

test('[keys] pkcs11 settings are parsed, required, and refused for other providers', () => {
  const keys = config('provider = "pkcs11"\nmodule = "/usr/lib/softhsm/libsofthsm2.so"\ntoken = "ward"\npin_file = "pin"').keys;
  assert.deepEqual(keys.pkcs11, { module: '/usr/lib/softhsm/libsofthsm2.so', token: 'ward', label: 'ward-master', pinFile: join(dir, 'pin') });
  assert.equal(config('provider = "pkcs11"\nmodule = "m.so"\ntoken = "t"\nlabel = "k"').keys.pkcs11?.pinFile, undefined);
  assert.throws(() => config('provider = "pkcs11"\ntoken = "ward"'), { code: 'ERR_CONFIG', message: /keys\.module/ });
  assert.throws(() => config('provider = "pkcs11"\nmodule = "m.so"'), { code: 'ERR_CONFIG', message: /keys\.token/ });
  assert.throws(() => config('provider = "file"\ntoken = "ward"'), { code: 'ERR_CONFIG', message: /keys\.token: applies only/ });
  assert.throws(() => config('provider = "vault"'), { code: 'ERR_CONFIG', message: /file, passphrase, shamir, pkcs11/ });
  assert.equal(config('').keys.provider, 'file');
  assert.equal(config('').keys.pkcs11, undefined);
});

test('the PKCS#11 PIN comes from a 0600 file (first line) or $WARD_PKCS11_PIN', () => {
  const pin = join(dir, 'pin');
  writeFileSync(pin, '1234\r\nignored\n', { mode: 0o600 });
  assert.equal(readPkcs11Pin(pin).toString(), '1234');
  const loose = join(dir, 'loose-pin');
  writeFileSync(loose, '1234', { mode: 0o644 });
  assert.throws(() => readPkcs11Pin(loose), { code: 'ERR_KEY_INSECURE_PERMISSIONS' });
  const empty = join(dir, 'empty-pin');
  writeFileSync(empty, '\n', { mode: 0o600 });
  assert.throws(() => readPkcs11Pin(empty), { code: 'ERR_KEY_INVALID' });
  assert.throws(() => readPkcs11Pin(join(dir, 'absent')), { code: 'ERR_KEY_NOT_FOUND' });
  assert.equal(readPkcs11Pin(undefined, { WARD_PKCS11_PIN: '9876' }).toString(), '9876');
  assert.throws(() => readPkcs11Pin(undefined, {}), { code: 'ERR_CONFIG', message: /WARD_PKCS11_PIN/ });
});
