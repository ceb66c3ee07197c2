import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WardError } from '../../src/errors.ts';
import { writeIdentityDir } from '../../src/pki/identity-dir.ts';
import { splitServers, WardClient, workloadOf } from '../../src/client/ward-client.ts';
import { loadIdentity } from '../../src/client/identity.ts';
import { client, makePki, startTestServer, type Client, type Pki, type TestServer } from '../server/helpers.ts';
import { deadPort, sendJson, startServer } from './fixtures.ts';

let pki: Pki;
let server: TestServer;
let admin: Client;
let dir: string;
let identityDir: string;

before(async () => {
  pki = await makePki();
  server = await startTestServer(pki);
  admin = client(server, pki.admin);
  dir = mkdtempSync(join(tmpdir(), 'ward-wc-'));
  const w = await pki.workload('shop', 'prod', 'web-1');
  identityDir = join(dir, 'web-1');
  writeIdentityDir(identityDir, { keyPem: w.key, certPem: w.cert, caPem: pki.ca.certPem });
  const put = async (path: string, value: string, kind = 'env') => {
    const r = await admin.call('PUT', `/v1/secrets/${path}`, { value: Buffer.from(value).toString('base64'), kind });
    assert.equal(r.status, 200, r.text);
  };
  await put('shop/prod/DB_PASSWORD', 'hunter2');
  await put('shop/prod/tls.key', 'KEY\0BYTES', 'file');
  await put('other/prod/SECRET', 'nope');
});

after(async () => {
  admin.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const url = () => `https://127.0.0.1:${server.port}`;

function newClient(t: { after: (fn: () => void) => void }, servers: string | string[] = url()): WardClient {
  const c = new WardClient({ servers, identity: identityDir });
  t.after(() => c.close());
  return c;
}

test('splitServers takes lists and comma-separated strings', () => {
  assert.deepEqual(splitServers('https://a:1, https://b:2,'), ['https://a:1', 'https://b:2']);
  assert.deepEqual(splitServers(['https://a:1,https://b:2', 'https://c:3']), ['https://a:1', 'https://b:2', 'https://c:3']);
});

test('the identity names its app and env (SPIFFE ID)', () => {
  assert.deepEqual(workloadOf(loadIdentity(identityDir)), { app: 'shop', env: 'prod', spiffeId: 'spiffe://ward.test/app/shop/env/prod/web-1' });
});

test('getAll returns the env\'s secrets as Buffers, with kind and revision; get reads one', async (t) => {
  const c = newClient(t);
  const set = await c.getAll('shop', 'prod');
  assert.equal(set.app, 'shop');
  assert.ok(set.revision >= 2);
  const byName = Object.fromEntries(set.secrets.map((s) => [s.name, s]));
  assert.equal(byName.DB_PASSWORD?.value.toString(), 'hunter2');
  assert.equal(byName['tls.key']?.kind, 'file');
  assert.deepEqual(byName['tls.key']?.value, Buffer.from('KEY\0BYTES'));
  const one = await c.get('shop', 'prod', 'DB_PASSWORD');
  assert.equal(one.version, 1);
  assert.equal(one.value.toString(), 'hunter2');
});

test('another app\'s secrets are denied (exit code 4)', async (t) => {
  const c = newClient(t);
  for (const p of [c.get('other', 'prod', 'SECRET'), c.getAll('other', 'prod')]) {
    const e = await p.catch((x: unknown) => x);
    assert.ok(e instanceof WardError && e.code === 'ERR_API_DENIED' && e.exitCode === 4, String(e));
  }
});

test('failover: a dead first server is skipped', async (t) => {
  const c = newClient(t, `https://127.0.0.1:${await deadPort()},${url()}`);
  assert.equal((await c.getAll('shop', 'prod')).secrets.length, 2);
});

test('bad names are usage errors before any request', async (t) => {
  const c = newClient(t);
  await assert.rejects(c.get('shop', 'prod', '../x'), { code: 'ERR_USAGE' });
});

test('watch: the long-poll reports a change within a second', async (t) => {
  const c = newClient(t);
  const start = await c.getAll('shop', 'prod');
  const ac = new AbortController();
  const seen = (async () => {
    for await (const set of c.watch('shop', 'prod', { revision: start.revision, signal: ac.signal })) {
      ac.abort();
      return set;
    }
    return undefined;
  })();
  await new Promise((r) => setTimeout(r, 300));
  const changedAt = performance.now();
  const r = await admin.call('PUT', '/v1/secrets/shop/prod/DB_PASSWORD', { value: Buffer.from('changed').toString('base64') });
  assert.equal(r.status, 200);
  const set = await seen;
  assert.ok(performance.now() - changedAt < 1500);
  assert.ok(set && set.revision > start.revision);
  assert.equal(set.secrets.find((s) => s.name === 'DB_PASSWORD')?.value.toString(), 'changed');
});

test('watch route: same revision after ?wait seconds; bad wait refused', async (t) => {
  const c = newClient(t);
  const { revision } = await c.getAll('shop', 'prod');
  const t0 = performance.now();
  assert.equal(await c.waitForChange('shop', 'prod', revision, 1), revision);
  assert.ok(performance.now() - t0 >= 900);
  assert.equal(await c.waitForChange('shop', 'prod', revision - 1, 30), revision, 'differs already: answers at once');
  const bad = await admin.call('GET', '/v1/watch/shop/prod?revision=0&wait=61');
  assert.equal(bad.status, 400);
  const denied = await c.waitForChange('other', 'prod', 0, 1).catch((e: unknown) => e);
  assert.ok(denied instanceof WardError && denied.code === 'ERR_API_DENIED');
});

test('watch falls back to polling the batch read on a server without the watch route', async (t) => {
  let revision = 1;
  const fake = await startServer({ ca: pki.ca, serverKey: pki.server.key, serverCert: pki.server.cert }, (req, res) => {
    if (req.url?.startsWith('/v1/watch/')) return sendJson(res, 404, { error: { code: 'ERR_API_NOT_FOUND', message: 'no such route' } });
    sendJson(res, 200, { app: 'shop', env: 'prod', revision, secrets: [{ name: 'A', version: revision, kind: 'env', sealed: false, value: Buffer.from(`v${revision}`).toString('base64') }] });
  });
  t.after(() => fake.close());
  const c = newClient(t, fake.url);
  const ac = new AbortController();
  const logs: string[] = [];
  setTimeout(() => (revision = 2), 150);
  for await (const set of c.watch('shop', 'prod', { revision: 1, signal: ac.signal, pollMs: 100, log: (m) => logs.push(m) })) {
    assert.equal(set.revision, 2);
    assert.equal(set.secrets[0]?.value.toString(), 'v2');
    ac.abort();
  }
  assert.ok(logs.some((l) => /polling instead/.test(l)));
});

test('fromEnv: WARD_SERVER and WARD_IDENTITY', async () => {
  const c = WardClient.fromEnv({ WARD_SERVER: `https://127.0.0.1:1,${url()}`, WARD_IDENTITY: identityDir });
  try {
    assert.deepEqual(c.servers, ['https://127.0.0.1:1', url()]);
    assert.equal((await c.whoami()).spiffeId, 'spiffe://ward.test/app/shop/env/prod/web-1');
  } finally {
    c.close();
  }
  assert.throws(() => WardClient.fromEnv({ WARD_SERVER: url() }), { code: 'ERR_USAGE' });
  assert.throws(() => WardClient.fromEnv({ WARD_IDENTITY: identityDir }), { code: 'ERR_USAGE' });
});

test('a pending watch does not hold up server shutdown; the client then sees the server gone', async (t) => {
  const own = await startTestServer(pki);
  const c = newClient(t, `https://127.0.0.1:${own.port}`);
  // a fresh store: shop/prod has revision 0 there, so this waits
  const pending = c.waitForChange('shop', 'prod', 0, 30).catch((e: unknown) => e);
  let settled = false;
  void pending.then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(settled, false, 'still waiting');
  const t0 = performance.now();
  await own.close();
  const closeMs = performance.now() - t0;
  t.diagnostic(`close took ${closeMs.toFixed(0)} ms`);
  assert.ok(closeMs < 3000, `close took ${closeMs} ms`);
  const answer = await pending;
  assert.ok(answer === 0 || (answer instanceof WardError && answer.exitCode === 5), String(answer));
});
