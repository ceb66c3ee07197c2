/**
 * Zero-knowledge sealed secrets, GitOps imports and end-to-end answers through the real CLI: a
 * `ward init` deployment, a `ward server` process, `ward recipients`, `ward seal`, `ward server
 * recipient`, `ward secret import`, and `ward run --identity FILE / --env-file / --e2e` spawned as
 * child processes running a small app that prints its environment. The e2e run goes through a
 * TLS-terminating proxy that records every byte it forwards.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { generateKey } from 'openpgp';
import { admin, BIN, cleanEnv, freePort, initDeployment, ward, wardOk, type Deployment, type RunningServer, startWardServer } from '../client/deployment.ts';

const APP = `console.log(JSON.stringify({ DB_PASSWORD: process.env.DB_PASSWORD, PGP_TOKEN: process.env.PGP_TOKEN, PLAIN: process.env.PLAIN, FROM_FILE: process.env.FROM_FILE, db_url: process.env.db_url, REF: process.env.REF }));`;
const SEALED = 'sealed-db-password-7f3a';

let dep: Deployment;
let server: RunningServer;
let identity: string;
let appKey: string;
let appRecipient: string;
let pgpPublicFile: string;
let pgpSecretFile: string;
let appPath: string;
let opsEnv: Record<string, string>;

const ops = (args: string[], input?: string) => ward(args, { cwd: dep.dir, env: opsEnv, ...(input === undefined ? {} : { input }) });
const opsOk = (args: string[], input?: string) => {
  const r = ops(args, input);
  assert.equal(r.status, 0, `ward ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

function runApp(args: string[], extraEnv: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string; env: Record<string, string | undefined> | undefined } {
  const r = spawnSync(process.execPath, [BIN, 'run', ...args, '--', process.execPath, appPath], {
    env: cleanEnv({ WARD_SERVER: server.url, ...extraEnv }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, env: line ? (JSON.parse(line) as Record<string, string | undefined>) : undefined };
}

/** As runApp, without blocking this process (the in-process proxy must keep forwarding). */
async function runAppAsync(args: string[], extraEnv: Record<string, string>): Promise<ReturnType<typeof runApp>> {
  const child = spawn(process.execPath, [BIN, 'run', ...args, '--', process.execPath, appPath], { env: cleanEnv({ WARD_SERVER: server.url, ...extraEnv }) });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [status] = (await once(child, 'exit')) as [number | null];
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  return { status, stdout, stderr, env: line ? (JSON.parse(line) as Record<string, string | undefined>) : undefined };
}

before(async () => {
  dep = initDeployment();
  server = await startWardServer(dep, await freePort());
  opsEnv = cleanEnv({ WARD_SERVER: server.url });
  identity = admin(dep, server.url).issue('web-1', 'shop', 'prod', join(dep.root, 'web-1'));
  admin(dep, server.url).set('shop/prod/PLAIN', 'plain-value');
  appKey = join(dep.root, 'app.agekey');
  wardOk(['keygen', '-o', appKey]);
  appRecipient = /# public key: (age1[0-9a-z]+)/.exec(readFileSync(appKey, 'utf8'))![1]!;
  const k = await generateKey({ type: 'curve25519', userIDs: [{ email: 'team@example.org' }], format: 'armored' });
  pgpPublicFile = join(dep.root, 'team.asc');
  pgpSecretFile = join(dep.root, 'team-secret.asc');
  writeFileSync(pgpPublicFile, k.publicKey);
  writeFileSync(pgpSecretFile, k.privateKey);
  appPath = join(dep.root, 'app.mjs');
  writeFileSync(appPath, APP);
});

after(async () => {
  await server?.stop();
  dep?.remove();
});

test('ward recipients add|ls|rm: validated, listed, removed', () => {
  opsOk(['recipients', 'add', 'shop/prod', appRecipient]);
  assert.match(ops(['recipients', 'add', 'shop/prod', appRecipient]).stderr, /already has/);
  const bad = ops(['recipients', 'add', 'shop/prod', 'age1invalid']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /ERR_AGE_RECIPIENT/);
  const notKey = join(dep.root, 'not-a-key.asc');
  writeFileSync(notKey, '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\ngarbage\n-----END PGP PUBLIC KEY BLOCK-----\n');
  assert.match(ops(['recipients', 'add', 'shop/prod', `pgp:${notKey}`]).stderr, /ERR_PGP_KEY/);
  opsOk(['recipients', 'add', 'shop/team', `pgp:${pgpPublicFile}`]);
  const listed = JSON.parse(opsOk(['recipients', 'ls', 'shop/team', '--json'])) as { id: string; kind: string }[];
  assert.equal(listed.length, 1);
  assert.equal(listed[0]!.kind, 'pgp');
  assert.match(opsOk(['recipients', 'ls', 'shop/prod']), new RegExp(appRecipient));
  opsOk(['recipients', 'add', 'shop/tmp', appRecipient]);
  opsOk(['recipients', 'rm', 'shop/tmp', appRecipient]);
  assert.deepEqual(JSON.parse(opsOk(['recipients', 'ls', 'shop/tmp', '--json'])), []);
  const missing = ops(['recipients', 'rm', 'shop/tmp', appRecipient]);
  assert.equal(missing.status, 6, missing.stderr);
});

test('ward seal, then ward run --identity FILE opens the sealed value; without the key the app is not started', () => {
  opsOk(['seal', 'shop/prod/DB_PASSWORD'], SEALED);
  // the server hands out only ciphertext
  const stored = spawnSync(process.execPath, [BIN, 'secret', 'get', 'shop/prod/DB_PASSWORD'], { cwd: dep.dir, env: opsEnv });
  assert.equal(stored.status, 0);
  assert.ok(stored.stdout.subarray(0, 22).toString('latin1').startsWith('age-encryption.org/v1'));
  assert.ok(!stored.stdout.includes(Buffer.from(SEALED)));
  assert.match(opsOk(['secret', 'ls', 'shop/prod']), /DB_PASSWORD\s+1\s+env,sealed/);

  const ok = runApp(['--identity', identity, '--identity', appKey]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.env?.DB_PASSWORD, SEALED);
  assert.equal(ok.env?.PLAIN, 'plain-value');

  const without = runApp(['--identity', identity]);
  assert.equal(without.status, 3, without.stderr);
  assert.equal(without.env, undefined, 'the app did not start');
  assert.match(without.stderr, /shop\/prod\/DB_PASSWORD is sealed.*ERR_SEALED_NO_IDENTITY/);
  assert.ok(!without.stderr.includes(SEALED));

  const otherKey = join(dep.root, 'other.agekey');
  wardOk(['keygen', '-o', otherKey]);
  const wrong = runApp(['--identity', otherKey], { WARD_IDENTITY: identity });
  assert.equal(wrong.status, 3, wrong.stderr);
  assert.equal(wrong.env, undefined);
  assert.match(wrong.stderr, /none of the identities given opens it/);

  // seal with no recipients registered: a clear error before any value is read
  const none = ops(['seal', 'shop/nobody/X'], 'v');
  assert.equal(none.status, 6, none.stderr);
  assert.match(none.stderr, /ERR_SEALED_NO_RECIPIENTS/);
});

test('OpenPGP recipients: ward seal to a pgp key, ward run --identity with the OpenPGP secret key', () => {
  const policy = join(dep.root, 'team-policy.json');
  writeFileSync(policy, JSON.stringify({ name: 'team-read', rules: [{ name: 'team-read', effect: 'allow', identities: ['spiffe://ward.local/app/shop/env/prod/*'], operations: ['read'], paths: ['shop/team/*'] }] }));
  const set = ops(['policy', 'set', policy]);
  assert.equal(set.status, 0, set.stderr);
  opsOk(['seal', 'shop/team/PGP_TOKEN'], 'pgp-token-value');
  const r = runApp(['--identity', identity, '--identity', pgpSecretFile, '--app', 'shop', '--env', 'team']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.env?.PGP_TOKEN, 'pgp-token-value');
});

test('ward server recipient, ward secret import (one env, and a TOML table per APP/ENV), ward run --env-file', () => {
  const recipient = opsOk(['server', 'recipient']).trim();
  assert.match(recipient, /^age1[0-9a-z]{58}$/);
  const plainEnv = join(dep.root, 'prod.env');
  writeFileSync(plainEnv, 'IMPORTED=from-git\n');
  const sealedEnv = join(dep.root, 'prod.env.enc');
  wardOk(['env', 'encrypt', '-r', recipient, plainEnv, '-o', sealedEnv]);
  assert.match(opsOk(['secret', 'import', sealedEnv, '--app', 'shop', '--env', 'prod', '--format', 'env', '--json']), /"written": 1/);
  assert.equal(opsOk(['secret', 'get', 'shop/prod/IMPORTED']), 'from-git');

  const toml = join(dep.root, 'all.toml');
  writeFileSync(toml, '["shop/stage"]\nDB_PASSWORD = "stage-pw"\n\n["billing/prod"]\nAPI_KEY = "billing-key"\n');
  const sealedToml = join(dep.root, 'all.enc.toml');
  wardOk(['config', 'encrypt', '-r', recipient, toml, '-o', sealedToml]);
  const r = JSON.parse(opsOk(['secret', 'import', sealedToml, '--json'])) as { written: number; envs: string[] };
  assert.deepEqual([r.written, r.envs], [2, ['billing/prod', 'shop/stage']]);
  assert.equal(opsOk(['secret', 'get', 'billing/prod/API_KEY']), 'billing-key');
  const notMine = ops(['secret', 'import', join(dep.root, 'prod.env')]);
  assert.notEqual(notMine.status, 0);

  // an encrypted .env for the app itself, opened by ward run with the app's key
  const appEnv = join(dep.root, 'app.env');
  writeFileSync(appEnv, 'FROM_FILE=file-secret-value\nPLAIN=overridden-by-server\n');
  const appEnvEnc = join(dep.root, 'app.env.enc');
  wardOk(['env', 'encrypt', '-r', appRecipient, appEnv, '-o', appEnvEnc]);
  const run = runApp(['--identity', identity, '--identity', appKey, '--env-file', appEnvEnc]);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.env?.FROM_FILE, 'file-secret-value');
  assert.equal(run.env?.PLAIN, 'plain-value', 'a secret from the server wins over the file');
  const noKey = runApp(['--identity', identity, '--env-file', appEnvEnc]);
  assert.equal(noKey.status, 3, noKey.stderr);
  assert.equal(noKey.env, undefined);
});

/** A TLS-terminating proxy: TLS from the client ends here, a new mTLS connection goes on to the server; every byte in between is recorded. */
async function startProxy(upstreamPort: number): Promise<{ server: Server; port: number; seen: () => Buffer }> {
  const captured: Buffer[] = [];
  const server = createServer({ cert: readFileSync(join(dep.dir, 'server/server.crt')), key: readFileSync(join(dep.dir, 'server/server.key')), minVersion: 'TLSv1.3' }, (down: TLSSocket) => {
    const up = connect({
      host: '127.0.0.1', port: upstreamPort, servername: 'localhost',
      ca: readFileSync(join(identity, 'ca.pem')), cert: readFileSync(join(identity, 'cert.pem')), key: readFileSync(join(identity, 'key.pem')),
    });
    down.on('data', (d: Buffer) => {
      captured.push(Buffer.from(d));
      up.write(d);
    });
    up.on('data', (d: Buffer) => {
      captured.push(Buffer.from(d));
      down.write(d);
    });
    down.on('end', () => up.end());
    up.on('end', () => down.end());
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { server, port: (server.address() as AddressInfo).port, seen: () => Buffer.concat(captured) };
}

test('ward run --e2e through a TLS-terminating proxy: the proxy sees only ciphertext, the app gets the values', async () => {
  const upstream = Number(new URL(server.url).port);
  admin(dep, server.url).set('shop/prod/db.url', 'postgres://user:e2e-only-secret@db/shop');
  // a reference to another env (readable through the team-read policy above): a single read, e2e too
  admin(dep, server.url).set('shop/team/TEAM_PLAIN', 'team-ref-secret');
  const proxy = await startProxy(upstream);
  try {
    const url = `https://127.0.0.1:${proxy.port}`;
    const e2e = await runAppAsync(['--identity', identity, '--identity', appKey, '--e2e', '--wait', '10s'], { WARD_SERVER: url, REF: 'ward:shop/team/TEAM_PLAIN' });
    assert.equal(e2e.status, 0, e2e.stderr);
    assert.equal(e2e.env?.REF, 'team-ref-secret');
    assert.equal(e2e.env?.db_url, 'postgres://user:e2e-only-secret@db/shop');
    assert.equal(e2e.env?.PLAIN, 'plain-value');
    const seen = proxy.seen();
    assert.match(seen.toString('latin1'), /application\/vnd\.ward\.e2e\+age/, 'the proxy saw the HTTP exchange');
    for (const secret of ['e2e-only-secret', 'plain-value', 'team-ref-secret']) {
      assert.ok(!seen.includes(Buffer.from(secret)), `${secret} in clear at the proxy`);
      assert.ok(!seen.toString('latin1').includes(Buffer.from(`postgres://user:${secret}`).toString('base64').slice(0, 20)), `${secret} base64 at the proxy`);
      assert.ok(!seen.toString('latin1').includes(Buffer.from(secret).toString('base64').slice(0, 12)), `${secret} base64 at the proxy`);
    }

    // the control: without --e2e the same proxy reads the values, so the check above can fail
    const plain = await startProxy(upstream);
    try {
      const r = await runAppAsync(['--identity', identity, '--identity', appKey, '--wait', '10s'], { WARD_SERVER: `https://127.0.0.1:${plain.port}` });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(plain.seen().toString('latin1').includes(Buffer.from('plain-value').toString('base64')));
    } finally {
      plain.server.close();
    }
  } finally {
    proxy.server.close();
  }
});
