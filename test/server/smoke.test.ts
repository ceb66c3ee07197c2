import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { client, makePki, startTestServer, b64 } from './helpers.ts';

const pki = await makePki();
const server = await startTestServer(pki);
after(() => server.close());

test('admin writes, workload reads its own env', async () => {
  const admin = client(server, pki.admin);
  const w = await admin.call('PUT', '/v1/secrets/billing/prod/DB_PASSWORD', { value: b64('hunter2') });
  assert.equal(w.status, 200, w.text);
  assert.deepEqual(w.body, { version: 1 });
  const who = await admin.call('GET', '/v1/whoami');
  assert.equal(who.body.role, 'admin');
  const wl = client(server, await pki.workload('billing', 'prod'));
  const r = await wl.call('GET', '/v1/secrets/billing/prod/DB_PASSWORD');
  assert.equal(r.status, 200, r.text);
  assert.equal(Buffer.from(r.body.value, 'base64').toString(), 'hunter2');
  const e = await wl.call('GET', '/v1/env/billing/prod');
  assert.equal(e.status, 200, e.text);
  assert.equal(e.body.secrets.length, 1);
  admin.close();
  wl.close();
});
