/**
 * Ward's encrypted images against skopeo (containers/ocicrypt) and Debian's docker-registry:
 * both directions, RSA and EC keys, all and chosen layers, docker-archive in and out, label
 * mode, a registry with htpasswd basic auth, and the failure modes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { writeLayout, readLayout, sha256, LABELLED_HISTORY } from '../image/fixtures.ts';

const WARD = join(import.meta.dirname, '..', '..', 'bin', 'ward.js');
let dir: string;
let registry: string;
let authRegistry: string;
let tokenRegistry: string;
let tokenServer: Server;
const tokenRequests: Array<{ authorization: string | undefined; scope: string | null; service: string | null }> = [];
const daemons: ChildProcess[] = [];
let diffIds: string[];

const p = (name: string) => join(dir, name);

/** Runs a child without blocking this process (the token service below lives in it). */
function run(cmd: string, args: string[]): Promise<{ status: number; stderr: string }> {
  return new Promise((ok) => {
    const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill(), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      ok({ status: code ?? -1, stderr });
    });
  });
}

function ward(...args: string[]): Promise<{ status: number; stderr: string }> {
  return run(process.execPath, [WARD, ...args]);
}

async function wardOk(...args: string[]): Promise<void> {
  const r = await ward(...args);
  assert.equal(r.status, 0, r.stderr);
}

async function skopeo(...args: string[]): Promise<void> {
  const r = await run('skopeo', ['--insecure-policy', ...args]);
  assert.equal(r.status, 0, r.stderr);
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as { port: number }).port;
  await new Promise((ok) => s.close(ok));
  return port;
}

async function startRegistry(name: string, extra = ''): Promise<string> {
  const port = await freePort();
  const root = p(`${name}-data`);
  const cfg = p(`${name}.yml`);
  writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${extra}`);
  const d = spawn('docker-registry', ['serve', cfg], { stdio: 'ignore' });
  daemons.push(d);
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(() => true, () => false);
    if (ok) return `127.0.0.1:${port}`;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('docker-registry did not start');
}

/** Uncompressed digests of a layout's layers (what diff_ids name), for comparing images. */
async function layerDiffIds(layout: string, tag = 'latest'): Promise<string[]> {
  const img = await readLayout(p(layout), tag);
  return Promise.all(img.manifest.layers.map(async (l) => {
    assert.ok(!l.mediaType.endsWith('+encrypted'), `${layout}: ${l.mediaType} still encrypted`);
    const b = await img.blob(l.digest);
    return sha256(l.mediaType.endsWith('+gzip') ? gunzipSync(b) : b);
  }));
}

async function encryptedIndexes(layout: string, tag = 'latest'): Promise<number[]> {
  const img = await readLayout(p(layout), tag);
  return img.manifest.layers.flatMap((l, i) => (l.mediaType.endsWith('+encrypted') ? [i] : []));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ward-image-interop-'));
  execFileSync('openssl', ['genrsa', '-out', p('rsa.pem'), '2048'], { stdio: 'ignore' });
  execFileSync('openssl', ['rsa', '-in', p('rsa.pem'), '-pubout', '-out', p('rsa.pub')], { stdio: 'ignore' });
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('ec-sec1.pem')]);
  execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', p('ec-sec1.pem'), '-out', p('ec.pem')]);
  execFileSync('openssl', ['ec', '-in', p('ec.pem'), '-pubout', '-out', p('ec.pub')], { stdio: 'ignore' });
  execFileSync('openssl', ['genrsa', '-out', p('other.pem'), '2048'], { stdio: 'ignore' });
  diffIds = (await writeLayout(p('src'), LABELLED_HISTORY)).diffIds;
  registry = await startRegistry('open');
  execFileSync('htpasswd', ['-Bbc', p('htpasswd'), 'alice', 'wonderland'], { stdio: 'ignore' });
  authRegistry = await startRegistry('auth', `auth:\n  htpasswd:\n    realm: ward-test\n    path: ${p('htpasswd')}\n`);
  writeFileSync(p('auth.json'), JSON.stringify({ auths: { [authRegistry]: { auth: Buffer.from('alice:wonderland').toString('base64') } } }));
  await startTokenRegistry();
});

/**
 * docker-registry with `auth: token`, and a token service (this test) that checks Basic
 * credentials and issues ES256 JWTs signed by a throwaway certificate the registry trusts.
 */
async function startTokenRegistry(): Promise<void> {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('token.key'), '-out', p('token.crt'), '-days', '1', '-subj', '/CN=ward-test-token'], { stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(p('token.key')));
  const x5c = [new X509Certificate(readFileSync(p('token.crt'))).raw.toString('base64')];
  const b64u = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  tokenServer = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    tokenRequests.push({ authorization: req.headers.authorization, scope: url.searchParams.get('scope'), service: url.searchParams.get('service') });
    if (req.headers.authorization !== `Basic ${Buffer.from('bob:builder').toString('base64')}`) {
      res.writeHead(401).end();
      return;
    }
    const access = (url.searchParams.getAll('scope')).map((sc) => {
      const [type, name, actions] = sc.split(':');
      return { type, name, actions: actions!.split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64u({ typ: 'JWT', alg: 'ES256', x5c })}.${b64u({ iss: 'ward-test', sub: 'bob', aud: 'ward-registry', exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access })}`;
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${input}.${sig}` }));
  });
  await new Promise<void>((ok) => tokenServer.listen(0, '127.0.0.1', ok));
  const realm = `http://127.0.0.1:${(tokenServer.address() as { port: number }).port}/token`;
  tokenRegistry = await startRegistry('token', `auth:\n  token:\n    realm: ${realm}\n    service: ward-registry\n    issuer: ward-test\n    rootcertbundle: ${p('token.crt')}\n`);
}

after(() => {
  tokenServer?.close();
  for (const d of daemons) d.kill();
  rmSync(dir, { recursive: true, force: true });
});

test('ward encrypts all layers to RSA and EC keys, pushes; skopeo decrypts with either key', async () => {
  await wardOk('image', 'copy', '-q', '--dest-tls-verify=false', '--encryption-key', 'jwe:rsa.pub', '--encryption-key', 'jwe:ec.pub',
    'oci:src:latest', `docker://${registry}/ward/all:v1`);
  await skopeo('copy', '--src-tls-verify=false', `docker://${registry}/ward/all:v1`, 'oci:pulled-enc:latest');
  assert.deepEqual(await encryptedIndexes('pulled-enc'), [0, 1, 2, 3]);
  for (const key of ['rsa.pem', 'ec.pem']) {
    const out = `skopeo-dec-${key}`;
    await skopeo('copy', '--src-tls-verify=false', '--decryption-key', key, `docker://${registry}/ward/all:v1`, `oci:${out}:latest`);
    assert.deepEqual(await layerDiffIds(out), diffIds);
  }
});

test('ward encrypts chosen layers (--encrypt-layer 0 and -1); skopeo decrypts', async () => {
  await wardOk('image', 'copy', '-q', '--encryption-key', 'jwe:ec.pub', '--encrypt-layer', '0', '--encrypt-layer', '-1', 'oci:src:latest', 'oci:chosen:latest');
  assert.deepEqual(await encryptedIndexes('chosen'), [0, 3]);
  await skopeo('copy', '--decryption-key', 'ec.pem', 'oci:chosen:latest', 'oci:chosen-dec:latest');
  assert.deepEqual(await layerDiffIds('chosen-dec'), diffIds);
});

test('ward --encrypt-labelled encrypts the layers between the LABEL lines; skopeo decrypts', async () => {
  await wardOk('image', 'copy', '-q', '--encryption-key', 'jwe:rsa.pub', '--encrypt-labelled', 'oci:src:latest', 'oci:labelled:latest');
  assert.deepEqual(await encryptedIndexes('labelled'), [1, 2]);
  await skopeo('copy', '--decryption-key', 'rsa.pem', 'oci:labelled:latest', 'oci:labelled-dec:latest');
  assert.deepEqual(await layerDiffIds('labelled-dec'), diffIds);
});

for (const [name, pub, priv] of [['RSA', 'rsa.pub', 'rsa.pem'], ['EC (SEC1 private key)', 'ec.pub', 'ec-sec1.pem']] as const) {
  test(`skopeo encrypts to ${name}, pushes; ward pulls and decrypts (all and chosen layers)`, async () => {
    const repo = `docker://${registry}/skopeo/${pub.replace('.', '-')}`;
    await skopeo('copy', '--dest-tls-verify=false', '--encryption-key', `jwe:${pub}`, 'oci:src:latest', `${repo}:all`);
    await skopeo('copy', '--dest-tls-verify=false', '--encryption-key', `jwe:${pub}`, '--encrypt-layer', '1', 'oci:src:latest', `${repo}:one`);
    for (const tag of ['all', 'one']) {
      const out = `ward-dec-${pub}-${tag}`;
      await wardOk('image', 'copy', '-q', '--src-tls-verify=false', '--decryption-key', priv, `${repo}:${tag}`, `oci:${out}:latest`);
      assert.deepEqual(await layerDiffIds(out), diffIds);
    }
  });
}

test('docker-archive in: ward encrypts a skopeo-written docker-archive; skopeo decrypts', async () => {
  await skopeo('copy', 'oci:src:latest', 'docker-archive:src.tar:ward/src:1');
  await wardOk('image', 'copy', '-q', '--encryption-key', 'jwe:rsa.pub', 'docker-archive:src.tar', 'oci:from-archive:latest');
  assert.deepEqual(await encryptedIndexes('from-archive'), [0, 1, 2, 3]);
  await skopeo('copy', '--decryption-key', 'rsa.pem', 'oci:from-archive:latest', 'oci:from-archive-dec:latest');
  assert.deepEqual(await layerDiffIds('from-archive-dec'), diffIds);
});

test('docker-archive out: ward decrypts a skopeo-encrypted image into a docker-archive skopeo reads', async () => {
  await skopeo('copy', '--encryption-key', 'jwe:ec.pub', 'oci:src:latest', 'oci:senc:latest');
  await wardOk('image', 'copy', '-q', '--decryption-key', 'ec.pem', 'oci:senc:latest', 'docker-archive:out.tar:ward/out:2');
  await skopeo('copy', 'docker-archive:out.tar', 'oci:archive-check:latest');
  assert.deepEqual(await layerDiffIds('archive-check'), diffIds);
  const r = await ward('image', 'copy', 'oci:senc:latest', 'docker-archive:enc.tar');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /ERR_IMAGE_UNSUPPORTED/);
  assert.ok(!existsSync(p('enc.tar')));
});

test('registry with htpasswd basic auth: credentials from --authfile and --dest-creds; refused without', async () => {
  const repo = `docker://${authRegistry}/secure/app:v1`;
  const denied = await ward('image', 'copy', '--dest-tls-verify=false', 'oci:src:latest', repo);
  assert.equal(denied.status, 4);
  assert.match(denied.stderr, /ERR_IMAGE_AUTH/);
  await wardOk('image', 'copy', '-q', '--dest-tls-verify=false', '--authfile', 'auth.json', '--encryption-key', 'jwe:rsa.pub', 'oci:src:latest', repo);
  await wardOk('image', 'copy', '-q', '--dest-tls-verify=false', '--dest-creds', 'alice:wonderland', 'oci:src:latest', `docker://${authRegistry}/secure/plain:v1`);
  await skopeo('copy', '--src-tls-verify=false', '--src-creds', 'alice:wonderland', '--decryption-key', 'rsa.pem', repo, 'oci:auth-dec:latest');
  assert.deepEqual(await layerDiffIds('auth-dec'), diffIds);
  const wrong = await ward('image', 'copy', '--src-tls-verify=false', '--src-creds', 'alice:wrong', repo, 'oci:nope:latest');
  assert.equal(wrong.status, 4);
  assert.doesNotMatch(wrong.stderr, /wrong|wonderland/);
  // Plain HTTP is never used with TLS verification on: the credentials stay home.
  const tls = await ward('image', 'copy', '--src-creds', 'alice:wonderland', repo, 'oci:nope:latest');
  assert.equal(tls.status, 5);
  assert.ok(!existsSync(p('nope')));
});

test('a wrong key fails with ERR_OCICRYPT_NO_KEY and leaves nothing at the destination', async () => {
  await skopeo('copy', '--encryption-key', 'jwe:rsa.pub', 'oci:src:latest', 'oci:wrongkey:latest');
  const r = await ward('image', 'copy', '--decryption-key', 'other.pem', 'oci:wrongkey:latest', 'oci:wrongkey-dec:latest');
  assert.equal(r.status, 3);
  assert.match(r.stderr, /ERR_OCICRYPT_NO_KEY/);
  assert.ok(!existsSync(p('wrongkey-dec')));
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.ward-staging-')), []);
});

test('registry with Bearer token auth (docker-registry auth: token): realm, service and scope from the challenge, credentials checked by the token service', async () => {
  const repo = `docker://${tokenRegistry}/team/app:v1`;
  const denied = await ward('image', 'copy', '--dest-tls-verify=false', '--dest-creds', 'bob:wrong', 'oci:src:latest', repo);
  assert.equal(denied.status, 4);
  assert.match(denied.stderr, /ERR_IMAGE_AUTH/);
  tokenRequests.length = 0;
  await wardOk('image', 'copy', '-q', '--dest-tls-verify=false', '--dest-creds', 'bob:builder', '--encryption-key', 'jwe:ec.pub', 'oci:src:latest', repo);
  assert.ok(tokenRequests.length >= 1);
  assert.deepEqual(tokenRequests.map((r) => [r.scope, r.service]), tokenRequests.map(() => ['repository:team/app:pull,push', 'ward-registry']));
  await skopeo('copy', '--src-tls-verify=false', '--src-creds', 'bob:builder', '--decryption-key', 'ec.pem', repo, 'oci:token-dec:latest');
  assert.deepEqual(await layerDiffIds('token-dec'), diffIds);
  await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', 'bob:builder', '--encryption-key', 'jwe:rsa.pub', 'oci:src:latest', `docker://${tokenRegistry}/team/skopeo:v1`);
  await wardOk('image', 'copy', '-q', '--src-tls-verify=false', '--src-creds', 'bob:builder', '--decryption-key', 'rsa.pem', `docker://${tokenRegistry}/team/skopeo:v1`, 'oci:token-dec2:latest');
  assert.deepEqual(await layerDiffIds('token-dec2'), diffIds);
});
