/**
 * Sealed master keys end to end, with real processes: `ward init --passphrase` and `ward init
 * --shares`, `ward server` as a child process, `ward operator unseal|seal|status` as the CLI.
 * A sealed server serves nothing but status and unseal (and reports not ready), a wrong
 * passphrase or share is refused, M-1 shares do not unseal, and a seal drops what was unsealed.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeShare, encodeShare } from '../../src/keys/shares.ts';
import { client, b64, type Pki } from './helpers.ts';

const WARD = new URL('../../bin/ward.js', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'ward-keys-process-'));
after(() => rmSync(root, { recursive: true, force: true }));

function ward(args: string[], cwd = root): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [WARD, ...args], { cwd, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Running {
  child: ChildProcess;
  port: number;
  healthPort: number;
  stderr: () => string;
}

async function startWard(dir: string, extra: string[] = []): Promise<Running> {
  const child = spawn(process.execPath, [WARD, 'server', '--config', join(dir, 'ward.toml'), '--listen', '127.0.0.1:0', '--health-listen', '127.0.0.1:0', ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const deadline = Date.now() + 30_000;
  while (!/health on http:\/\/127\.0\.0\.1:(\d+)/.test(err)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ward server did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    child,
    port: Number(/listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(err)![1]),
    healthPort: Number(/health on http:\/\/127\.0\.0\.1:(\d+)/.exec(err)![1]),
    stderr: () => err,
  };
}

async function stop(w: Running): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return;
  const done = new Promise((r) => w.child.once('exit', r));
  w.child.kill('SIGTERM');
  await done;
}

function session(dir: string, w: Running) {
  const read = (p: string) => readFileSync(join(dir, p), 'utf8');
  const c = client({ port: w.port, pki: { ca: { certPem: read('ca/ca.crt') } } as unknown as Pki }, { cert: read('admin/cert.pem'), key: read('admin/key.pem') });
  const cli = (args: string[]) => ward([...args, '--server', `https://127.0.0.1:${w.port}`], dir);
  // a new connection each time (fetch's keep-alive pool can race the listener's idle timeout)
  const probe = () => new Promise<{ status: number; body: string }>((resolve, reject) => {
    get({ host: '127.0.0.1', port: w.healthPort, path: '/readyz', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
  const ready = async () => (await probe()).status;
  const readyBody = async () => (await probe()).body;
  return { c, cli, ready, readyBody };
}

/** Nothing but status and unseal while sealed: data, admin and meta routes all answer 503 ERR_KEY_SEALED. */
async function assertSealed(c: ReturnType<typeof client>): Promise<void> {
  for (const [method, path] of [['GET', '/v1/whoami'], ['GET', '/v1/secrets/shop/prod/DB'], ['GET', '/v1/env/shop/prod'], ['GET', '/v1/certs'], ['GET', '/v1/openapi.json']] as const) {
    const r = await c.call(method, path);
    assert.equal(r.status, 503, `${method} ${path}: ${r.text}`);
    assert.equal(r.body.error.code, 'ERR_KEY_SEALED');
    assert.match(r.body.error.message, /ward operator unseal/);
  }
  const put = await c.call('PUT', '/v1/secrets/shop/prod/DB', { value: b64('x') });
  assert.equal(put.status, 503);
  const status = await c.call('GET', '/v1/sys/status');
  assert.equal(status.status, 200);
  assert.equal(status.body.sealed, true);
}

test('passphrase: starts sealed, a wrong passphrase is refused, unseal, seal again, --unseal-file at start', async () => {
  const dir = join(root, 'pass');
  const passFile = join(root, 'pass.txt');
  const wrongFile = join(root, 'wrong.txt');
  writeFileSync(passFile, 'correct horse battery staple\n', { mode: 0o600 });
  writeFileSync(wrongFile, 'incorrect horse\n', { mode: 0o600 });
  const init = ward(['init', dir, '--passphrase', '--passphrase-file', passFile]);
  assert.equal(init.code, 0, init.stderr);
  assert.match(readFileSync(join(dir, 'ward.toml'), 'utf8'), /provider = "passphrase"/);
  assert.equal(readFileSync(join(dir, 'master.sealed')).subarray(0, 8).toString(), 'WARDSKEY');

  const w = await startWard(dir);
  const { c, cli, ready, readyBody } = session(dir, w);
  try {
    assert.match(w.stderr(), /sealed/);
    await assertSealed(c);
    assert.equal(await ready(), 503, 'a sealed server is not ready');
    assert.equal(await readyBody(), '{"status":"sealed"}\n');
    assert.equal(cli(['operator', 'status']).code, 10);

    const wrong = cli(['operator', 'unseal', '--passphrase-file', wrongFile]);
    assert.equal(wrong.code, 3, wrong.stderr);
    assert.match(wrong.stderr, /ERR_KEY_WRONG_PASSPHRASE/);
    await assertSealed(c);

    const ok = cli(['operator', 'unseal', '--passphrase-file', passFile]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /unsealed/);
    assert.equal(await ready(), 200);
    assert.equal((await c.call('PUT', '/v1/secrets/shop/prod/DB', { value: b64('hunter2') })).status, 200);
    assert.equal(Buffer.from((await c.call('GET', '/v1/secrets/shop/prod/DB')).body.value, 'base64').toString(), 'hunter2');

    const sealed = cli(['operator', 'seal']);
    assert.equal(sealed.code, 0, sealed.stderr);
    await assertSealed(c);
    assert.equal(await ready(), 503);

    // an app started while the server is sealed waits (ward run --wait) and starts once unsealed
    const app = spawn(process.execPath, [WARD, 'run', '--server', `https://127.0.0.1:${w.port}`, '--identity', join(dir, 'admin'), '--app', 'shop', '--env', 'prod', '--wait', '60s',
      '--', process.execPath, '-e', 'console.log(process.env.DB)'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let appOut = '';
    app.stdout!.on('data', (b: Buffer) => (appOut += b.toString()));
    const appExit = new Promise<number | null>((r) => app.once('exit', r));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(app.exitCode, null, 'still waiting while sealed');
    // the audit log has the unseal attempts, never the passphrase
    assert.equal(cli(['operator', 'unseal', '--passphrase-file', passFile]).code, 0);
    assert.equal(await appExit, 0);
    assert.equal(appOut.trim(), 'hunter2');
    const audit = (await c.call('GET', '/v1/audit?limit=1000')).text;
    assert.match(audit, /sys\.unseal/);
    assert.match(audit, /ERR_KEY_WRONG_PASSPHRASE/);
    assert.match(audit, /sys\.seal/);
    assert.doesNotMatch(audit, /horse/);
    assert.doesNotMatch(w.stderr(), /horse/);
    c.close();
  } finally {
    await stop(w);
  }

  const again = await startWard(dir, ['--unseal-file', passFile]);
  try {
    const s = session(dir, again);
    assert.equal(Buffer.from((await s.c.call('GET', '/v1/secrets/shop/prod/DB')).body.value, 'base64').toString(), 'hunter2', 'unsealed at start');
    assert.equal(await s.ready(), 200);
    s.c.close();
  } finally {
    await stop(again);
  }
  const refused = spawnSync(process.execPath, [WARD, 'server', '--config', join(dir, 'ward.toml'), '--listen', '127.0.0.1:0', '--health-listen', '', '--unseal-file', wrongFile], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(refused.status, 3, 'a wrong passphrase at start fails the start');
  assert.match(refused.stderr, /ERR_KEY_WRONG_PASSPHRASE/);
});

test('shamir: M-1 shares do not unseal, a foreign or wrong share is detected, M shares unseal', async () => {
  const dir = join(root, 'shamir');
  const sharesDir = join(root, 'shares');
  const init = ward(['init', dir, '--shares', '3', '--threshold', '2', '--shares-dir', sharesDir]);
  assert.equal(init.code, 0, init.stderr);
  assert.doesNotMatch(init.stdout, /ward-share-v1/, 'with --shares-dir the shares are not printed');
  const shareFile = (i: number) => join(sharesDir, `share-${i}.txt`);
  const share = (i: number) => readFileSync(shareFile(i), 'utf8').trim();
  // another deployment's shares are printed, labelled, on stdout
  const other = ward(['init', join(root, 'other'), '--shares', '3', '--threshold', '2']);
  assert.equal(other.code, 0, other.stderr);
  const printed = other.stdout.split('\n').filter((l) => l.startsWith('share '));
  assert.equal(printed.length, 3);
  assert.match(printed[1]!, /^share 2 of 3 \(any 2 unseal\): ward-share-v1-2-/);
  const foreignFile = join(root, 'foreign.txt');
  writeFileSync(foreignFile, `${printed[1]}\n`, { mode: 0o600 });
  // a share of this split with one byte changed, its checksum recomputed: only the combination can tell
  const bad = decodeShare(share(2));
  bad.value[0]! ^= 1;
  const badFile = join(root, 'bad.txt');
  writeFileSync(badFile, `${encodeShare(bad)}\n`, { mode: 0o600 });

  const w = await startWard(dir);
  const { c, cli, ready } = session(dir, w);
  try {
    await assertSealed(c);
    const first = cli(['operator', 'unseal', '--share-file', shareFile(1)]);
    assert.equal(first.code, 10, first.stderr);
    assert.match(first.stderr, /unseal progress: 1 of 2 shares/);
    await assertSealed(c);
    assert.equal(await ready(), 503, 'M-1 shares do not unseal');

    const foreign = cli(['operator', 'unseal', '--share-file', foreignFile]);
    assert.equal(foreign.code, 3, foreign.stderr);
    assert.match(foreign.stderr, /ERR_SHAMIR_SHARE_MISMATCH/);
    assert.equal((await c.call('GET', '/v1/sys/status')).body.have, 1, 'a foreign share is not counted');

    const wrong = cli(['operator', 'unseal', '--share-file', badFile]);
    assert.equal(wrong.code, 3, wrong.stderr);
    assert.match(wrong.stderr, /ERR_SHAMIR_COMBINE_FAILED/);
    const status = await c.call('GET', '/v1/sys/status');
    assert.deepEqual([status.body.sealed, status.body.have, status.body.need], [true, 0, 2], 'pending shares discarded');
    await assertSealed(c);

    assert.equal(cli(['operator', 'unseal', '--share-file', shareFile(3)]).code, 10);
    const last = cli(['operator', 'unseal', '--share-file', shareFile(1)]);
    assert.equal(last.code, 0, last.stderr);
    assert.match(last.stderr, /the server is unsealed/);
    assert.equal(await ready(), 200);
    assert.equal((await c.call('PUT', '/v1/secrets/shop/prod/DB', { value: b64('s3cret') })).status, 200);
    assert.equal(Buffer.from((await c.call('GET', '/v1/secrets/shop/prod/DB')).body.value, 'base64').toString(), 's3cret');
    // key rotation and crypto-shredding through the CLI; piped, no progress line, one summary line
    const rotated = cli(['key', 'rotate']);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stderr, /^ward: shop\/prod: kek2; 1 data keys re-wrapped; destroyed kek1$/m);
    assert.ok(!rotated.stderr.includes('\r') && !rotated.stderr.includes('\u001b'), 'no progress line when piped');
    assert.equal(Buffer.from((await c.call('GET', '/v1/secrets/shop/prod/DB')).body.value, 'base64').toString(), 's3cret');
    assert.match(cli(['key', 'ls']).stdout, /shop\/prod\s+kek1\s+destroyed\s+0[\s\S]*shop\/prod\s+kek2\s+live\s+1/);
    assert.equal(cli(['key', 'destroy', '--app', 'shop', '--env', 'prod']).code, 2, 'the confirmation flag is required');
    const shredded = cli(['key', 'destroy', '--app', 'shop', '--env', 'prod', '--yes-destroy-all-secrets']);
    assert.equal(shredded.code, 0, shredded.stderr);
    assert.equal((await c.call('GET', '/v1/secrets/shop/prod/DB')).body.error.code, 'ERR_KEY_DESTROYED');
    const st = cli(['operator', 'status', '--json']);
    assert.equal(st.code, 0);
    assert.deepEqual(JSON.parse(st.stdout), { sealed: false, provider: 'shamir', have: 2, need: 2 });
    c.close();
  } finally {
    await stop(w);
  }
});
