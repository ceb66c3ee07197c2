/**
 * Server-wide source lists on real sockets (127.0.0.1 and ::1), and reads failing closed when the
 * audit log cannot be written.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { client, makePki, startTestServer, b64 } from './helpers.ts';
import type { Store } from '../../src/store/types.ts';

const pki = await makePki();

test('server deny list: IPv4 loopback denied (also when it arrives IPv4-mapped), IPv6 loopback allowed', async () => {
  const server = await startTestServer(pki, { host: '::', sources: { deny: ['127.0.0.0/8'] } });
  after(() => server.close());
  const v4 = client(server, pki.admin, '127.0.0.1');
  const v6 = client(server, pki.admin, '::1');
  const denied = await v4.call('PUT', '/v1/secrets/a/b/C', { value: b64('x') });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.error.code, 'ERR_API_DENIED');
  assert.equal((await v6.call('PUT', '/v1/secrets/a/b/C', { value: b64('x') })).status, 200);
  const audit = await v6.call('GET', '/v1/audit?limit=100');
  assert.ok(audit.body.records.some((r: { source: string; outcome: string }) => r.source === '127.0.0.1' && r.outcome === 'denied'));
  v4.close();
  v6.close();
});

test('server allow list: only ::1 may connect', async () => {
  const server = await startTestServer(pki, { host: '::', sources: { allow: ['::1/128'] } });
  after(() => server.close());
  const v4 = client(server, pki.admin, '127.0.0.1');
  const v6 = client(server, pki.admin, '::1');
  assert.equal((await v4.call('GET', '/v1/secrets?app=a')).status, 403);
  assert.equal((await v6.call('GET', '/v1/secrets?app=a')).status, 200);
  v4.close();
  v6.close();
});

test('a read fails closed (503, no value) when its audit record cannot be written; internal errors leak nothing', async () => {
  let failAudit = false;
  let failRead = false;
  const server = await startTestServer(pki);
  after(() => server.close());
  // Fault injection at the store boundary: the real SQLite store, with appendAudit failing on demand.
  const real = server.store;
  const faulty = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'appendAudit') {
        return (entries: Parameters<Store['appendAudit']>[0]) => (failAudit ? Promise.reject(new Error('disk full')) : target.appendAudit(entries));
      }
      if (prop === 'getSecret' && failRead) return () => Promise.reject(new Error('SQLITE_IOERR at /srv/ward/data/ward.db page 7'));
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  await server.app.close();
  const { buildServer } = await import('../../src/server/app.ts');
  const { rawKeyProvider } = await import('../../src/keys/file.ts');
  const { randomBytes } = await import('node:crypto');
  const app = await buildServer({
    store: faulty,
    keys: rawKeyProvider('test', randomBytes(32)),
    tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.certPem },
    trustDomain: 'ward.test',
    logLevel: 'fatal',
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  after(() => app.close());
  const port = (app.server.address() as { port: number }).port;
  const admin = client({ port, pki }, pki.admin);
  assert.equal((await admin.call('PUT', '/v1/secrets/a/b/C', { value: b64('the-value') })).status, 200);
  failAudit = true;
  for (const path of ['/v1/secrets/a/b/C', '/v1/env/a/b']) {
    const r = await admin.call('GET', path);
    assert.equal(r.status, 503, r.text);
    assert.equal(r.body.error.code, 'ERR_API_UNAVAILABLE');
    assert.ok(!r.text.includes(b64('the-value')));
  }
  failAudit = false;
  assert.equal((await admin.call('GET', '/v1/secrets/a/b/C')).status, 200);
  // an unexpected failure is a generic 500 that leaks nothing of the internal error
  failRead = true;
  const internal = await admin.call('GET', '/v1/secrets/a/b/C');
  assert.equal(internal.status, 500);
  assert.deepEqual(internal.body, { error: { code: 'ERR_INTERNAL', message: 'internal error' } });
  failRead = false;
  admin.close();
});
