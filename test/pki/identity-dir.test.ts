import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCA, generateKeyPair, issueCertificate, readIdentityDir, writeIdentityDir } from '../../src/pki/index.ts';
import { WardError } from '../../src/errors.ts';

const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;
const ca = await createCA({ trustDomain: 'ward.local' });
const key = generateKeyPair();
const cert = await issueCertificate({ ca, role: 'workload', name: 'i', app: 'a', env: 'e', publicKey: key.publicKeyPem });
const files = { keyPem: key.privateKeyPem, certPem: cert.certPem, caPem: ca.certPem };

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ward-iddir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('write then read: key.pem 0600, cert.pem, ca.pem, directory 0700', (t) => {
  const dir = join(tmp(t), 'id');
  writeIdentityDir(dir, files);
  assert.deepEqual(readdirSync(dir).sort(), ['ca.pem', 'cert.pem', 'key.pem']);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'key.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'cert.pem')).mode & 0o777, 0o644);
  assert.deepEqual(readIdentityDir(dir), files);
});

test('refuses to overwrite unless asked', (t) => {
  const dir = tmp(t);
  writeIdentityDir(dir, files);
  assert.throws(() => writeIdentityDir(dir, files), code('ERR_EXISTS'));
  writeIdentityDir(dir, files, { overwrite: true });
  assert.deepEqual(readdirSync(dir).sort(), ['ca.pem', 'cert.pem', 'key.pem']);
});

test('read refuses a group- or world-readable key, a missing file, a mismatched key', (t) => {
  const dir = tmp(t);
  writeIdentityDir(dir, files);
  chmodSync(join(dir, 'key.pem'), 0o640);
  assert.throws(() => readIdentityDir(dir), code('ERR_KEY_INSECURE_PERMISSIONS'));
  chmodSync(join(dir, 'key.pem'), 0o600);
  writeFileSync(join(dir, 'key.pem'), generateKeyPair().privateKeyPem);
  assert.throws(() => readIdentityDir(dir), code('ERR_PKI_INVALID_CERT'));
  unlinkSync(join(dir, 'ca.pem'));
  assert.throws(() => readIdentityDir(dir), (e: unknown) => code('ERR_CONFIG')(e) && /ca\.pem/.test((e as Error).message));
  assert.throws(() => readIdentityDir(join(dir, 'none')), code('ERR_CONFIG'));
});
