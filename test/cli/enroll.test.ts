/**
 * `ward token create`, `ward enroll` and `ward run`'s own enrolment end to end: a real deployment
 * (`ward init`) with `[server] enroll_listen`, a real `ward server` process, the CLI spawned.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fingerprint } from '../../src/pki/pem.ts';
import { identityFromCertificate } from '../../src/pki/identity.ts';
import { admin, BIN, cleanEnv, freePort, initDeployment, startWardServer, ward, type Deployment, type RunningServer } from '../client/deployment.ts';

let dep: Deployment;
let server: RunningServer;
let enrolUrl: string;
let pin: string;

before(async () => {
  dep = initDeployment();
  const enrolPort = await freePort();
  const toml = join(dep.dir, 'ward.toml');
  // short-lived workload certificates: due for renewal as soon as they are issued (notBefore is
  // backdated 5 minutes for clock skew, so two thirds of the validity has already passed)
  writeFileSync(toml, `${readFileSync(toml, 'utf8').replace('deny_sources = []\n', `deny_sources = []\nenroll_listen = "127.0.0.1:${enrolPort}"\nenroll_rate = 1000\n`)}\n[pki]\nworkload_ttl = "1m"\n`);
  server = await startWardServer(dep, await freePort());
  enrolUrl = `https://localhost:${enrolPort}`;
  pin = fingerprint(readFileSync(join(dep.dir, 'ca', 'ca.crt'), 'utf8'));
  admin(dep, server.url).set('shop/prod/GREETING', 'hello-from-ward');
});

after(async () => {
  await server?.stop();
  dep?.remove();
});

function newToken(extra: string[] = []): string {
  const r = ward(['token', 'create', '--app', 'shop', '--env', 'prod', ...extra], { cwd: dep.dir, env: cleanEnv({ WARD_SERVER: server.url }) });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /one-time token for shop\/prod/);
  return r.stdout.trim();
}

test('ward token create prints a token once; ward enroll with WARD_TOKEN writes an identity; the token does not work twice', () => {
  const token = newToken(['--ttl', '10m']);
  assert.match(token, /^wet1_[A-Za-z0-9_-]{43}$/);
  const out = join(dep.root, 'enrolled-1');
  const r = ward(['enroll', '--server', enrolUrl, '--ca-fingerprint', pin, '--out', out, '--name', 'edge-1', '--json'], { env: cleanEnv({ WARD_TOKEN: token }) });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { spiffeId: string; dir: string };
  assert.equal(got.spiffeId, 'spiffe://ward.local/app/shop/env/prod/edge-1');
  assert.equal(statSync(join(out, 'key.pem')).mode & 0o777, 0o600);

  const again = ward(['enroll', '--server', enrolUrl, '--ca-fingerprint', pin, '--out', join(dep.root, 'enrolled-1b')], { env: cleanEnv({ WARD_TOKEN: token }) });
  assert.equal(again.status, 4);
  assert.match(again.stderr, /ERR_TOKEN_INVALID/);
  assert.ok(!again.stderr.includes(token));
});

test('--token-file - reads the token from stdin', () => {
  const token = newToken();
  const out = join(dep.root, 'enrolled-2');
  const r = ward(['enroll', '--server', enrolUrl, '--ca-fingerprint', pin, '--out', out, '--token-file', '-'], { input: `${token}\n` });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(out, 'cert.pem')));
});

test('a wrong --ca-fingerprint exits 4 with ERR_ENROLL_CA_MISMATCH and leaves the token unused', () => {
  const token = newToken();
  const wrong = `sha256:${'ab'.repeat(32)}`;
  const r = ward(['enroll', '--server', enrolUrl, '--ca-fingerprint', wrong, '--out', join(dep.root, 'nope')], { env: cleanEnv({ WARD_TOKEN: token }) });
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /ERR_ENROLL_CA_MISMATCH/);
  assert.ok(!existsSync(join(dep.root, 'nope', 'key.pem')));
  const ok = ward(['enroll', '--server', enrolUrl, '--ca-fingerprint', pin, '--out', join(dep.root, 'yes')], { env: cleanEnv({ WARD_TOKEN: token }) });
  assert.equal(ok.status, 0, ok.stderr);
});

test('no token is a usage error (exit 2, ERR_TOKEN_MISSING)', () => {
  const r = ward(['enroll', '--server', enrolUrl, '--ca-fingerprint', pin, '--out', join(dep.root, 'none')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /ERR_TOKEN_MISSING/);
});

test('ward run enrols on its own when given a token and no identity yet, then runs the app with its secrets', () => {
  const token = newToken();
  const identity = join(dep.root, 'run-identity');
  const r = ward(['run', '--', process.execPath, '-e', 'console.log(process.env.GREETING)'], {
    env: cleanEnv({ WARD_SERVER: server.url, WARD_IDENTITY: identity, WARD_TOKEN: token, WARD_CA_FINGERPRINT: pin, WARD_ENROLL_SERVER: enrolUrl }),
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'hello-from-ward');
  assert.match(r.stderr, /enrolled spiffe:\/\/ward\.local\/app\/shop\/env\/prod\//);
  // the second start uses the identity it wrote; the spent token is not needed again
  const again = ward(['run', '--', process.execPath, '-e', 'console.log(process.env.GREETING)'], {
    env: cleanEnv({ WARD_SERVER: server.url, WARD_IDENTITY: identity, WARD_TOKEN: token, WARD_CA_FINGERPRINT: pin, WARD_ENROLL_SERVER: enrolUrl }),
  });
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /enrolled/);
});

test('ward run --watch renews its certificate before it expires, while the app runs', async () => {
  const token = newToken();
  const identity = join(dep.root, 'watch-identity');
  const e = ward(['enroll', '--server', enrolUrl, '--ca-fingerprint', pin, '--out', identity], { env: cleanEnv({ WARD_TOKEN: token }) });
  assert.equal(e.status, 0, e.stderr);
  const serialNow = () => identityFromCertificate(readFileSync(join(identity, 'cert.pem'), 'utf8'));
  const first = serialNow();
  assert.ok(first.notAfter.getTime() - Date.now() <= 61_000, 'workload_ttl = 1m applies');
  const child = spawn(process.execPath, [BIN, 'run', '--watch', '--', process.execPath, '-e', 'setTimeout(() => {}, 60000)'], {
    env: cleanEnv({ WARD_SERVER: server.url, WARD_IDENTITY: identity }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = once(child, 'exit');
  try {
    const end = Date.now() + 30_000;
    while (serialNow().serial === first.serial) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`no renewal; stderr: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const second = serialNow();
    assert.equal(second.spiffeId, first.spiffeId);
    assert.ok(Date.now() < first.notAfter.getTime(), 'renewed before the old certificate expired');
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  assert.match(err, /renewed the identity/);
});
