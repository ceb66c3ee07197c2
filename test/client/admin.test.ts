import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WardAdminClient } from '../../src/client/admin.ts';
import { WardHttpClient } from '../../src/client/http.ts';
import { loadIdentity } from '../../src/client/identity.ts';
import { makeIdentityDir, makePki, sendJson, startServer, tempDir } from './fixtures.ts';

test('admin client: paths are encoded, values base64 both ways, listings follow every cursor', async (t) => {
  const pki = await makePki();
  const seen: { method: string; url: string; body: unknown }[] = [];
  const srv = await startServer(pki, (req, res, body) => {
    const url = req.url!;
    seen.push({ method: req.method!, url, body: body.length ? JSON.parse(body.toString()) : undefined });
    if (req.method === 'PUT') return sendJson(res, 200, { version: 4 });
    if (url.startsWith('/v1/secrets?')) {
      const cursor = new URL(url, 'https://x').searchParams.get('cursor');
      const page = cursor === null ? 0 : Number(cursor);
      const items = [0, 1].map((i) => ({ app: 'a', env: 'e', name: `n${page * 2 + i}`, currentVersion: 1, kind: 'env', sealed: false, createdAt: 0, updatedAt: 0, deletedAt: null }));
      return sendJson(res, 200, { items, next: page < 2 ? String(page + 1) : null });
    }
    if (url.startsWith('/v1/certs?')) {
      const cursor = new URL(url, 'https://x').searchParams.get('cursor');
      const page = cursor === null ? 0 : Number(cursor);
      const certificates = [0, 1, 2].map((i) => ({ serial: `0${page * 3 + i}`, name: `c${page * 3 + i}` }));
      return sendJson(res, 200, { certificates, next: page < 1 ? String(page + 1) : null });
    }
    if (url.startsWith('/v1/secrets/')) return sendJson(res, 200, { app: 'a', env: 'e', name: 'n', version: 2, kind: 'file', sealed: false, createdAt: 1, value: Buffer.from([0, 255, 10]).toString('base64') });
    if (url.startsWith('/v1/env/')) return sendJson(res, 200, { app: 'a', env: 'e', revision: 9, secrets: [{ name: 'X', version: 1, kind: 'env', sealed: false, value: Buffer.from('v').toString('base64') }] });
    if (url === '/v1/audit?after=5&limit=10&wait=3') return sendJson(res, 200, { records: [] });
    return sendJson(res, 404, { error: { code: 'ERR_API_NOT_FOUND', message: 'no such route' } });
  });
  t.after(() => srv.close());
  const dir = await makeIdentityDir(pki.ca, tempDir(t));
  const client = new WardAdminClient(new WardHttpClient({ servers: [srv.url], identity: loadIdentity(dir) }));
  t.after(() => client.close());

  const got = await client.getSecret({ app: 'a', env: 'e', name: 'n.key' }, 2);
  assert.deepEqual([...got.value], [0, 255, 10]);
  assert.equal(seen.at(-1)!.url, '/v1/secrets/a/e/n.key?version=2');

  assert.deepEqual(await client.putSecret({ app: 'a', env: 'e', name: 'n' }, Buffer.from('hi'), { cas: 3, kind: 'file' }), { version: 4 });
  assert.deepEqual(seen.at(-1)!.body, { value: 'aGk=', cas: 3, kind: 'file' });

  const names = [];
  for await (const item of client.listSecrets({ app: 'a', limit: 2 })) names.push(item.name);
  assert.deepEqual(names, ['n0', 'n1', 'n2', 'n3', 'n4', 'n5']);
  assert.deepEqual(seen.filter((s) => s.url.startsWith('/v1/secrets?')).map((s) => s.url), ['/v1/secrets?app=a&limit=2', '/v1/secrets?app=a&cursor=1&limit=2', '/v1/secrets?app=a&cursor=2&limit=2']);

  const certNames = [];
  for await (const c of client.listCertificates({ limit: 3 })) certNames.push(c.name);
  assert.deepEqual(certNames, ['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
  assert.deepEqual(seen.filter((s) => s.url.startsWith('/v1/certs')).map((s) => s.url), ['/v1/certs?limit=3', '/v1/certs?cursor=1&limit=3']);
  assert.deepEqual(await client.listCertificatesPage({ cursor: '1' }), { certificates: [{ serial: '03', name: 'c3' }, { serial: '04', name: 'c4' }, { serial: '05', name: 'c5' }], next: null });

  const batch = await client.getEnv('a', 'e');
  assert.equal(batch.secrets[0]!.value.toString(), 'v');
  assert.deepEqual(await client.readAudit({ after: 5, limit: 10, waitSeconds: 3 }), []);
  await assert.rejects(client.listPolicies(), (e: unknown) => (e as { code?: string }).code === 'ERR_API_NOT_FOUND');
});
