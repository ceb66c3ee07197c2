/**
 * The `provider.ward` key wrapper on its own: the fetcher is a table of PEMs standing in for the
 * server's answers (test/cli/keyprovider.test.ts runs it against a real `ward server`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { WardError } from '../../src/errors.ts';
import { ANNOTATION_WARD, parseSecretRef, parseWardBlob, serializeWardBlob, WardKeyWrapper, type SecretRef } from '../../src/image/ward-keys.ts';

const pems: Record<string, string> = {
  'shop/prod/EC': generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  'shop/prod/RSA': generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  'shop/prod/ED': generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
};

function fetcher(denied: string[] = []) {
  const calls: string[] = [];
  const handed: Buffer[] = [];
  const fetch = async (r: SecretRef) => {
    const path = `${r.app}/${r.env}/${r.name}`;
    calls.push(path);
    if (denied.includes(path) || !pems[path]) throw new WardError('ERR_API_DENIED', 'access denied');
    const b = Buffer.from(pems[path]);
    handed.push(b);
    return b;
  };
  return { fetch, calls, handed };
}

const refs = (...p: string[]) => p.map((x) => parseSecretRef(x));

test('parseSecretRef: ward:APP/ENV/NAME or APP/ENV/NAME, nothing else', () => {
  assert.deepEqual(parseSecretRef('ward:shop/prod/KEY'), { app: 'shop', env: 'prod', name: 'KEY' });
  assert.deepEqual(parseSecretRef('shop/prod/image.key'), { app: 'shop', env: 'prod', name: 'image.key' });
  for (const bad of ['', 'ward:', 'shop/prod', 'shop/prod/KEY/x', 'shop//KEY', '../prod/KEY', 'shop/prod/.KEY', 'shop/pr od/KEY']) {
    assert.throws(() => parseSecretRef(bad), { code: 'ERR_USAGE' }, bad);
  }
});

test('wrap to RSA and EC keys held as secrets; unwrap with either; each key fetched once, its PEM zeroed', async () => {
  const f = fetcher();
  const enc = new WardKeyWrapper({ encryptTo: refs('shop/prod/RSA', 'ward:shop/prod/EC'), fetch: f.fetch });
  assert.equal(enc.annotation, ANNOTATION_WARD);
  assert.deepEqual([enc.canWrap, enc.canUnwrap], [true, false]);
  const opts = randomBytes(300);
  const blob = await enc.wrap(opts);
  await enc.wrap(opts);
  assert.deepEqual(f.calls, ['shop/prod/RSA', 'shop/prod/EC'], 'fetched once per wrapper');
  assert.ok(f.handed.every((b) => b.every((x) => x === 0)), 'PEM buffers zeroed');
  assert.deepEqual(parseWardBlob(blob).keys, ['shop/prod/RSA', 'shop/prod/EC']);
  assert.ok(!blob.toString().includes('PRIVATE'), 'no key material in the annotation');
  for (const which of ['shop/prod/RSA', 'shop/prod/EC']) {
    const dec = new WardKeyWrapper({ decryptWith: refs(which), fetch: fetcher().fetch });
    assert.deepEqual(await dec.unwrap(blob), opts);
  }
  assert.deepEqual(await new WardKeyWrapper({ decryptWith: 'any', fetch: fetcher(['shop/prod/RSA']).fetch }).unwrap(blob), opts, 'denied RSA, EC opens');
});

test('unwrap: null for keys the blob does not name; the server\'s refusal when every candidate is denied', async () => {
  const blob = await new WardKeyWrapper({ encryptTo: refs('shop/prod/EC'), fetch: fetcher().fetch }).wrap(randomBytes(32));
  const f = fetcher();
  assert.equal(await new WardKeyWrapper({ decryptWith: refs('shop/prod/RSA'), fetch: f.fetch }).unwrap(blob), null);
  assert.deepEqual(f.calls, [], 'nothing fetched for a key the blob does not name');
  await assert.rejects(new WardKeyWrapper({ decryptWith: 'any', fetch: fetcher(['shop/prod/EC']).fetch }).unwrap(blob), { code: 'ERR_API_DENIED' });
  // a secret holding a key of the wrong kind
  await assert.rejects(new WardKeyWrapper({ encryptTo: refs('shop/prod/ED'), fetch: fetcher().fetch }).wrap(randomBytes(32)), { code: 'ERR_OCICRYPT_KEY' });
  // the same JWE named under a key that cannot open it: null, not an error
  const { jwe } = parseWardBlob(blob);
  assert.equal(await new WardKeyWrapper({ decryptWith: 'any', fetch: fetcher().fetch }).unwrap(serializeWardBlob(['shop/prod/RSA'], jwe)), null);
});

test('parseWardBlob rejects what it does not know', () => {
  const jwe = '{"protected":"e30","ciphertext":"","iv":"","tag":""}';
  assert.deepEqual(parseWardBlob(serializeWardBlob(['a/b/c'], jwe)).keys, ['a/b/c']);
  for (const bad of [
    'not json', '[]', '{"version":2,"keys":["a/b/c"],"jwe":{}}', '{"version":1,"keys":[],"jwe":{}}', '{"version":1,"keys":["a/b"],"jwe":{}}',
    '{"version":1,"keys":["a/b/c"],"jwe":"x"}', '{"version":1,"keys":["a/b/c"],"jwe":{},"extra":1}', '{"version":1,"keys":[1],"jwe":{}}',
  ]) {
    assert.throws(() => parseWardBlob(Buffer.from(bad)), { code: 'ERR_OCICRYPT_FORMAT' }, bad);
  }
  assert.throws(() => parseWardBlob(Buffer.from([0xff, 0xfe])), { code: 'ERR_OCICRYPT_FORMAT' });
});
