import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initDeployment, loadDeployment, splitSans } from '../src/deployment.ts';
import { WardError } from '../src/errors.ts';
import { createCA } from '../src/pki/index.ts';

const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;
const root = mkdtempSync(join(tmpdir(), 'ward-deploy-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

test('splitSans tells IP addresses from DNS names, unbrackets IPv6, drops duplicates', () => {
  assert.deepEqual(splitSans(['localhost', '127.0.0.1', '[::1]', 'Ward.Example.com', 'localhost', '::1']), {
    dnsNames: ['localhost', 'ward.example.com'],
    ips: ['127.0.0.1', '::1'],
  });
  assert.throws(() => splitSans([' ']), code('ERR_USAGE'));
});

test('initDeployment then loadDeployment: everything read and cross-checked', async () => {
  const dir = join(root, 'd1');
  const result = await initDeployment({ dir, trustDomain: 'td.example', sans: ['ward.td.example'] });
  assert.equal(result.dir, dir);
  assert.equal(result.adminSpiffeId, 'spiffe://td.example/admin/admin');
  assert.deepEqual(result.dnsNames, ['localhost', 'ward.td.example']);
  const d = loadDeployment(dir);
  assert.equal(d.config.server.trustDomain, 'td.example');
  assert.equal(d.ca?.trustDomain, 'td.example');
  assert.equal(d.ca?.fingerprint, result.caFingerprint);
  assert.equal(d.caCertPem, readFileSync(join(dir, 'ca', 'ca.crt'), 'utf8'));
  assert.equal(d.serverTls.clientCaPem, d.caCertPem);
  assert.match(d.serverTls.keyPem, /PRIVATE KEY/);
});

test('loadDeployment refuses a trust domain that is not the CA\'s, loose key modes, mismatched keys', async () => {
  const dir = join(root, 'd2');
  await initDeployment({ dir });
  const toml = join(dir, 'ward.toml');
  const text = readFileSync(toml, 'utf8');
  writeFileSync(toml, text.replace('trust_domain = "ward.local"', 'trust_domain = "other.local"'));
  assert.throws(() => loadDeployment(toml), (e: unknown) => code('ERR_CONFIG')(e) && /trust_domain/.test((e as Error).message));
  writeFileSync(toml, text);
  chmodSync(join(dir, 'server', 'server.key'), 0o644);
  assert.throws(() => loadDeployment(toml), code('ERR_KEY_INSECURE_PERMISSIONS'));
  chmodSync(join(dir, 'server', 'server.key'), 0o600);
  writeFileSync(join(dir, 'ca', 'ca.key'), (await createCA({ trustDomain: 'ward.local' })).keyPem, { mode: 0o600 });
  assert.throws(() => loadDeployment(toml), code('ERR_PKI_INVALID_CERT'));
});

test('an offline CA key: key = "" loads without one', async () => {
  const dir = join(root, 'd3');
  await initDeployment({ dir });
  const toml = join(dir, 'ward.toml');
  writeFileSync(toml, readFileSync(toml, 'utf8').replace('key = "ca/ca.key"', 'key = ""'));
  rmSync(join(dir, 'ca', 'ca.key'));
  const d = loadDeployment(toml);
  assert.equal(d.ca, undefined);
  assert.equal(d.config.ca.key, undefined);
});

test('a missing file is a configuration error naming the key', async () => {
  const dir = join(root, 'd4');
  await initDeployment({ dir });
  rmSync(join(dir, 'server', 'server.crt'));
  assert.throws(() => loadDeployment(dir), (e: unknown) => code('ERR_CONFIG')(e) && /server\.tls\.cert/.test((e as Error).message));
});

test('initDeployment: an unusable parent is an I/O error and leaves nothing behind', async () => {
  writeFileSync(join(root, 'plain-file'), 'x');
  await assert.rejects(initDeployment({ dir: join(root, 'plain-file', 'ward') }), code('ERR_IO'));
  assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('.')), []);
});

test('initDeployment with a sealed master key: passphrase or Shamir shares, [keys] written to match', async () => {
  const { openPassphraseKeyProvider, openShamirKeyProvider } = await import('../src/keys/index.ts');
  const pass = await initDeployment({ dir: join(root, 'sealed-pass'), keys: { provider: 'passphrase', passphrase: Buffer.from('pw'), scryptLogN: 10 } });
  assert.equal(pass.keyProvider, 'passphrase');
  assert.equal(pass.shares, undefined);
  const files = readdirSync(pass.dir);
  assert.ok(files.includes('master.sealed') && !files.includes('master.key'));
  const config = loadDeployment(pass.dir).config;
  assert.equal(config.keys.provider, 'passphrase');
  const p = openPassphraseKeyProvider(config.keys.path);
  assert.deepEqual(await p.unseal(Buffer.from('pw')), { sealed: false, have: 1, need: 1 });
  p.close();

  const shamir = await initDeployment({ dir: join(root, 'sealed-shamir'), keys: { provider: 'shamir', shares: 3, threshold: 2 } });
  assert.equal(shamir.shares?.length, 3);
  const s = openShamirKeyProvider(loadDeployment(shamir.dir).config.keys.path);
  assert.equal((await s.submitShare(shamir.shares![2]!)).sealed, true);
  assert.equal((await s.submitShare(shamir.shares![0]!)).sealed, false);
  s.close();
  await assert.rejects(initDeployment({ dir: join(root, 'one-of-3'), keys: { provider: 'shamir', shares: 3, threshold: 1 } }), code('ERR_USAGE'));
  await assert.rejects(initDeployment({ dir: join(root, 'four-of-3'), keys: { provider: 'shamir', shares: 3, threshold: 4 } }), code('ERR_USAGE'));
  assert.throws(() => readdirSync(join(root, 'one-of-3')), 'nothing left behind');
});
