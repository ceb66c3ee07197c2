import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WardError } from '../../src/errors.ts';
import { describeIdentity, loadIdentity } from '../../src/client/identity.ts';
import { makeIdentityDir, makePki, tempDir } from './fixtures.ts';

test('loadIdentity reads key, certificate and CA and says who it is', async (t) => {
  const pki = await makePki();
  const dir = await makeIdentityDir(pki.ca, tempDir(t), 'ops');
  const id = loadIdentity(dir);
  assert.equal(id.dir, dir);
  assert.match(id.key, /BEGIN PRIVATE KEY/);
  assert.equal(id.ca, pki.ca.certPem);
  const who = describeIdentity(id);
  assert.equal(who.spiffeId, 'spiffe://test.local/admin/ops');
  assert.equal(who.role, 'admin');
});

test('loadIdentity refuses a key readable by group or others, with a chmod hint', async (t) => {
  const pki = await makePki();
  const dir = await makeIdentityDir(pki.ca, tempDir(t));
  chmodSync(join(dir, 'key.pem'), 0o640);
  assert.throws(() => loadIdentity(dir), (e: unknown) => e instanceof WardError && e.code === 'ERR_KEY_INSECURE_PERMISSIONS' && e.exitCode === 8 && /chmod 600/.test(e.hint ?? ''));
});

test('loadIdentity names a missing file', async (t) => {
  const pki = await makePki();
  const dir = await makeIdentityDir(pki.ca, tempDir(t));
  rmSync(join(dir, 'ca.pem'));
  assert.throws(() => loadIdentity(dir), (e: unknown) => e instanceof WardError && e.code === 'ERR_CONFIG' && /ca\.pem/.test(e.message));
});
