/**
 * The v1 API over real mTLS and a real SQLite file: isolation between apps, check-and-set,
 * history and rollback, bad input, integrity of stored values, policies, auditing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { client, makePki, startTestServer, b64 } from './helpers.ts';
import { verifyAuditChain, readAllAudit } from '../../src/store/audit-chain.ts';
import { createCsr } from '../../src/pki/csr.ts';
import { generateKeyPair } from '../../src/pki/keys.ts';

const pki = await makePki();
const server = await startTestServer(pki);
const admin = client(server, pki.admin);
const billing = client(server, await pki.workload('billing', 'prod'));
const web = client(server, await pki.workload('web', 'prod'));
after(async () => {
  for (const c of [admin, billing, web]) c.close();
  await server.close();
});

const put = (path: string, value: string, extra: Record<string, unknown> = {}) => admin.call('PUT', `/v1/secrets/${path}`, { value: b64(value), ...extra });
const audits = async () => (await admin.call('GET', '/v1/audit?limit=1000')).body.records as { identity: string; operation: string; path: string; outcome: string; detail?: string }[];

test('a workload of app A cannot read, list or learn the existence of app B secrets; denials are audited', async () => {
  assert.equal((await put('billing/prod/DB_PASSWORD', 'billing-secret')).status, 200);
  const exists = await web.call('GET', '/v1/secrets/billing/prod/DB_PASSWORD');
  const missing = await web.call('GET', '/v1/secrets/billing/prod/NO_SUCH');
  const missingApp = await web.call('GET', '/v1/secrets/nothere/prod/X');
  for (const a of [exists, missing, missingApp]) {
    assert.equal(a.status, 403);
    assert.deepEqual(a.body, { error: { code: 'ERR_API_DENIED', message: 'not authorized' } });
  }
  const batch = await web.call('GET', '/v1/env/billing/prod');
  const batchMissing = await web.call('GET', '/v1/env/nothere/prod');
  assert.equal(batch.status, 403);
  assert.deepEqual(batch.body, batchMissing.body);
  const list = await web.call('GET', '/v1/secrets?app=billing');
  const listMissing = await web.call('GET', '/v1/secrets?app=nothere');
  assert.equal(list.status, 403);
  assert.deepEqual(list.body, listMissing.body);
  const listAll = await web.call('GET', '/v1/secrets');
  assert.equal(listAll.status, 403);
  const history = await web.call('GET', '/v1/secrets/billing/prod/DB_PASSWORD/history');
  assert.equal(history.status, 403);
  assert.equal((await web.call('PUT', '/v1/secrets/billing/prod/DB_PASSWORD', { value: b64('x') })).status, 403);
  assert.equal((await web.call('DELETE', '/v1/secrets/billing/prod/DB_PASSWORD')).status, 403);
  assert.equal((await web.call('GET', '/v1/policies')).status, 403);
  // the owner sees it; a missing name in its own env is a plain 404
  const own = await billing.call('GET', '/v1/secrets/billing/prod/DB_PASSWORD');
  assert.equal(Buffer.from(own.body.value, 'base64').toString(), 'billing-secret');
  assert.equal((await billing.call('GET', '/v1/secrets/billing/prod/NO_SUCH')).status, 404);
  const denied = (await audits()).filter((r) => r.identity.includes('/app/web/') && (r.outcome === 'denied' || r.outcome === 'not-found'));
  assert.ok(denied.length >= 10, `audited denials: ${denied.length}`);
  assert.ok(denied.some((r) => r.operation === 'secret.read' && r.path === 'billing/prod/DB_PASSWORD' && r.outcome === 'denied'));
  assert.ok(denied.some((r) => r.operation === 'env.read' && r.path === 'billing/prod/*'));
});

test('batch read returns only what the caller may read, with the env revision', async () => {
  await put('billing/prod/API_KEY', 'k1');
  await put('billing/prod/CERT', 'pem', { kind: 'file' });
  const batch = await billing.call('GET', '/v1/env/billing/prod');
  assert.equal(batch.status, 200);
  assert.equal(batch.body.app, 'billing');
  assert.ok(batch.body.revision >= 3);
  const names = batch.body.secrets.map((s: { name: string }) => s.name);
  assert.deepEqual(names, ['API_KEY', 'CERT', 'DB_PASSWORD']);
  assert.equal(batch.body.secrets[1].kind, 'file');
  // a write invalidates the cached batch at once
  await put('billing/prod/API_KEY', 'k2');
  const again = await billing.call('GET', '/v1/env/billing/prod');
  assert.equal(Buffer.from(again.body.secrets[0].value, 'base64').toString(), 'k2');
  assert.ok(again.body.revision > batch.body.revision);
  // a policy deny on one name hides just that name
  const policy = { rules: [{ name: 'no-cert', effect: 'deny', identities: ['spiffe://ward.test/app/billing/**'], operations: ['read'], paths: ['billing/prod/CERT'] }] };
  assert.equal((await admin.call('PUT', '/v1/policies/hide-cert', { document: policy })).status, 200);
  const filtered = await billing.call('GET', '/v1/env/billing/prod');
  assert.deepEqual(filtered.body.secrets.map((s: { name: string }) => s.name), ['API_KEY', 'DB_PASSWORD']);
  assert.equal((await billing.call('GET', '/v1/secrets/billing/prod/CERT')).status, 403);
  assert.equal((await admin.call('DELETE', '/v1/policies/hide-cert')).status, 200);
  assert.equal((await billing.call('GET', '/v1/secrets/billing/prod/CERT')).status, 200);
});

test('check-and-set conflicts change nothing', async () => {
  assert.deepEqual((await put('cas/prod/A', 'one', { cas: 0 })).body, { version: 1 });
  const conflict = await put('cas/prod/A', 'two', { cas: 0 });
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.error.code, 'ERR_API_CONFLICT');
  assert.equal((await put('cas/prod/A', 'two', { cas: 5 })).status, 409);
  assert.deepEqual((await put('cas/prod/A', 'two', { cas: 1 })).body, { version: 2 });
  const read = await admin.call('GET', '/v1/secrets/cas/prod/A');
  assert.equal(Buffer.from(read.body.value, 'base64').toString(), 'two');
  assert.equal(read.body.version, 2);
  assert.ok((await audits()).some((r) => r.path === 'cas/prod/A' && r.outcome === 'conflict'));
});

test('history, versions and rollback (a new version with the old value)', async () => {
  for (const v of ['v1', 'v2', 'v3']) await put('hist/prod/S', v);
  const h = await admin.call('GET', '/v1/secrets/hist/prod/S/history');
  assert.deepEqual(h.body.versions.map((v: { version: number }) => v.version), [1, 2, 3]);
  assert.equal(h.body.versions[0].createdBy, 'spiffe://ward.test/admin/root');
  assert.equal(Buffer.from((await admin.call('GET', '/v1/secrets/hist/prod/S?version=1')).body.value, 'base64').toString(), 'v1');
  const rb = await admin.call('POST', '/v1/secrets/hist/prod/S/rollback', { version: 1 });
  assert.deepEqual(rb.body, { version: 4 });
  const latest = await admin.call('GET', '/v1/secrets/hist/prod/S');
  assert.equal(latest.body.version, 4);
  assert.equal(Buffer.from(latest.body.value, 'base64').toString(), 'v1');
  const unknown = await admin.call('GET', '/v1/secrets/hist/prod/S?version=9');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'ERR_API_NOT_FOUND');
  assert.equal((await admin.call('POST', '/v1/secrets/hist/prod/S/rollback', { version: 9 })).status, 404);
  // destroy erases old bytes; that version can no longer be read or rolled back to
  assert.deepEqual((await admin.call('POST', '/v1/secrets/hist/prod/S/destroy', { versions: [2] })).body, { destroyed: 1 });
  assert.equal((await admin.call('GET', '/v1/secrets/hist/prod/S?version=2')).status, 404);
  assert.equal((await admin.call('POST', '/v1/secrets/hist/prod/S/rollback', { version: 2 })).status, 404);
  // soft delete and undelete
  assert.deepEqual((await admin.call('DELETE', '/v1/secrets/hist/prod/S')).body, { deleted: true });
  assert.equal((await admin.call('GET', '/v1/secrets/hist/prod/S')).status, 404);
  const withDeleted = await admin.call('GET', '/v1/secrets?app=hist&deleted=true');
  assert.equal(withDeleted.body.items[0].name, 'S');
  assert.ok(withDeleted.body.items[0].deletedAt > 0);
  assert.deepEqual((await admin.call('POST', '/v1/secrets/hist/prod/S/undelete')).body, { undeleted: true });
  assert.equal((await admin.call('GET', '/v1/secrets/hist/prod/S')).body.version, 4);
});

test('bad input gets a 4xx with a stable code and changes nothing', async () => {
  await put('bad/prod/KEEP', 'original');
  const before = (await admin.call('GET', '/v1/secrets/bad/prod/KEEP/history')).body.versions.length;
  const cases: [string, string, unknown, { raw?: string; contentType?: string } | undefined, number, string][] = [
    ['malformed JSON', '/v1/secrets/bad/prod/KEEP', undefined, { raw: '{"value": "aGk=",' }, 400, 'ERR_API_BAD_REQUEST'],
    ['not JSON at all', '/v1/secrets/bad/prod/KEEP', undefined, { raw: 'value=1', contentType: 'text/plain' }, 400, 'ERR_API_BAD_REQUEST'],
    ['unknown field', '/v1/secrets/bad/prod/KEEP', { value: 'aGk=', extra: 1 }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['missing value', '/v1/secrets/bad/prod/KEEP', { cas: 1 }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['value not a string', '/v1/secrets/bad/prod/KEEP', { value: 12 }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['cas as string (no coercion)', '/v1/secrets/bad/prod/KEEP', { value: 'aGk=', cas: '1' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['non-canonical base64', '/v1/secrets/bad/prod/KEEP', { value: 'aGk' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['base64 with stray bits', '/v1/secrets/bad/prod/KEEP', { value: 'aGl=' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['bad kind', '/v1/secrets/bad/prod/KEEP', { value: 'aGk=', kind: 'dir' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['segment with dot-dot', '/v1/secrets/bad/prod/..', { value: 'aGk=' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['segment starting with a dot', '/v1/secrets/bad/prod/.env', { value: 'aGk=' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['segment with a space', '/v1/secrets/bad/prod/A%20B', { value: 'aGk=' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['encoded slash', '/v1/secrets/bad/prod/A%2FB', { value: 'aGk=' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['segment too long', `/v1/secrets/bad/prod/${'A'.repeat(129)}`, { value: 'aGk=' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['segment far too long', `/v1/secrets/bad/prod/${'A'.repeat(300)}`, { value: 'aGk=' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['bad percent-encoding', '/v1/secrets/bad/prod/%E0%A4%A', { value: 'aGk=' }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['value one byte over the bound', '/v1/secrets/bad/prod/KEEP', { value: Buffer.alloc(768 * 1024 + 1).toString('base64') }, undefined, 400, 'ERR_API_BAD_REQUEST'],
    ['oversized body', '/v1/secrets/bad/prod/KEEP', undefined, { raw: JSON.stringify({ value: 'A'.repeat(1024 * 1024 + 4096) }) }, 413, 'ERR_API_TOO_LARGE'],
  ];
  for (const [name, path, body, opts, status, code] of cases) {
    const a = await admin.call('PUT', path, body, opts);
    assert.equal(a.status, status, `${name}: ${a.text}`);
    assert.equal(a.body?.error?.code, code, name);
  }
  for (const [name, path, status] of [
    ['version zero', '/v1/secrets/bad/prod/KEEP?version=0', 400],
    ['version not a number', '/v1/secrets/bad/prod/KEEP?version=abc', 400],
    ['unknown query parameter', '/v1/secrets/bad/prod/KEEP?foo=1', 400],
    ['unknown version', '/v1/secrets/bad/prod/KEEP?version=77', 404],
    ['limit out of range', '/v1/secrets?limit=0', 400],
    ['bad cursor', '/v1/secrets?cursor=AAAA', 400],
    ['unknown route', '/v1/nothing', 404],
  ] as const) {
    const a = await admin.call('GET', path);
    assert.equal(a.status, status, `${name}: ${a.text}`);
    assert.match(a.body.error.code, /^ERR_API_/);
  }
  const bad = await admin.call('PUT', '/v1/policies/p', { document: { rules: [{ name: 'r', effect: 'allow', identities: ['spiffe://ward.test/**'], operations: ['read'], paths: ['a/b/c'] }], sources: { allow: ['10.0.0.0/99'] } } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'ERR_API_BAD_REQUEST');
  const after = await admin.call('GET', '/v1/secrets/bad/prod/KEEP');
  assert.equal(Buffer.from(after.body.value, 'base64').toString(), 'original');
  assert.equal((await admin.call('GET', '/v1/secrets/bad/prod/KEEP/history')).body.versions.length, before);
  assert.ok((await audits()).filter((r) => r.outcome === 'bad-request').length >= 20);
});

test('a value of 768 KiB fits the body limit', async () => {
  const big = Buffer.alloc(768 * 1024, 7);
  const w = await admin.call('PUT', '/v1/secrets/big/prod/BLOB', { value: big.toString('base64'), kind: 'file' });
  assert.equal(w.status, 200, w.text);
  assert.deepEqual(Buffer.from((await admin.call('GET', '/v1/secrets/big/prod/BLOB')).body.value, 'base64'), big);
});

test('no plaintext value in the database files; audit records carry no value', async () => {
  const marker = 'PLAINTEXT-MARKER-7f3a9c';
  await put('scan/prod/S', marker);
  await put('scan/prod/S', `${marker}-2`);
  await admin.call('GET', '/v1/secrets/scan/prod/S');
  for (const f of readdirSync(server.dir)) {
    const bytes = readFileSync(join(server.dir, f));
    assert.equal(bytes.indexOf(marker), -1, `${f} holds the plaintext`);
    assert.equal(bytes.indexOf(Buffer.from(marker).toString('base64')), -1, `${f} holds the base64 plaintext`);
  }
  assert.ok(!JSON.stringify(await audits()).includes(marker));
});

test('a ciphertext moved to another row is an integrity error, never the other value', async () => {
  await put('move/prod/A', 'value-of-A');
  await put('move/prod/B', 'value-of-B');
  const db = new DatabaseSync(server.dbPath);
  try {
    db.prepare(`UPDATE secret_versions SET ciphertext = (SELECT ciphertext FROM secret_versions WHERE app='move' AND name='A'),
      wrapped_key = (SELECT wrapped_key FROM secret_versions WHERE app='move' AND name='A') WHERE app='move' AND name='B'`).run();
  } finally {
    db.close();
  }
  const read = await admin.call('GET', '/v1/secrets/move/prod/B');
  assert.equal(read.status, 400);
  assert.equal(read.body.error.code, 'ERR_CRYPTO_AUTH');
  assert.ok(!read.text.includes(b64('value-of-A')));
  const batch = await admin.call('GET', '/v1/env/move/prod');
  assert.equal(batch.body.error.code, 'ERR_CRYPTO_AUTH');
  assert.equal(Buffer.from((await admin.call('GET', '/v1/secrets/move/prod/A')).body.value, 'base64').toString(), 'value-of-A');
});

test('policies: set, list, explain, and a policy grant takes effect at once', async () => {
  assert.equal((await web.call('GET', '/v1/secrets/billing/prod/API_KEY')).status, 403);
  const document = {
    description: 'web reads billing API key',
    rules: [{ name: 'web-api-key', effect: 'allow', identities: ['spiffe://ward.test/app/web/env/prod/*'], operations: ['read'], paths: ['billing/prod/API_KEY'] }],
  };
  assert.deepEqual((await admin.call('PUT', '/v1/policies/web-billing', { document })).body, { name: 'web-billing' });
  assert.equal((await web.call('GET', '/v1/secrets/billing/prod/API_KEY')).status, 200);
  assert.equal((await web.call('GET', '/v1/secrets/billing/prod/DB_PASSWORD')).status, 403);
  const partial = await web.call('GET', '/v1/env/billing/prod');
  assert.deepEqual(partial.body.secrets.map((s: { name: string }) => s.name), ['API_KEY']);
  const listed = await admin.call('GET', '/v1/policies');
  assert.deepEqual(listed.body.policies.find((p: { name: string }) => p.name === 'web-billing').document, document);
  const explain = await admin.call('POST', '/v1/policies/explain', { spiffeId: 'spiffe://ward.test/app/web/env/prod/x', path: 'billing/prod/API_KEY', operation: 'read' });
  assert.deepEqual(explain.body, { decision: 'allow', rule: 'web-billing/web-api-key', reason: 'rule web-billing/web-api-key allows read on billing/prod/API_KEY' });
  const explainDeny = await admin.call('POST', '/v1/policies/explain', { spiffeId: 'spiffe://ward.test/app/web/env/prod/x', path: 'billing/prod/DB_PASSWORD', operation: 'read' });
  assert.equal(explainDeny.body.rule, 'builtin:default-deny');
  assert.equal((await admin.call('DELETE', '/v1/policies/web-billing')).status, 200);
  assert.equal((await web.call('GET', '/v1/secrets/billing/prod/API_KEY')).status, 403);
  assert.equal((await admin.call('DELETE', '/v1/policies/web-billing')).status, 404);
});

test('listing: paged, filtered to what the caller may list', async () => {
  const all = await admin.call('GET', '/v1/secrets?app=billing&env=prod&limit=2');
  assert.equal(all.body.items.length, 2);
  assert.ok(all.body.next);
  const rest = await admin.call('GET', `/v1/secrets?app=billing&env=prod&cursor=${all.body.next}`);
  assert.ok(rest.body.items.length >= 1);
  const own = await billing.call('GET', '/v1/secrets?app=billing&env=prod');
  assert.deepEqual(own.body.items.map((i: { name: string }) => i.name), ['API_KEY', 'CERT', 'DB_PASSWORD']);
  assert.equal((await billing.call('GET', '/v1/secrets?app=billing&env=prod&deleted=true')).status, 403);
});

test('certificates over the API: issue from a CSR, list, revoke', async () => {
  const pair = generateKeyPair();
  const csr = await createCsr({ privateKeyPem: pair.privateKeyPem, spiffeId: 'spiffe://ward.test/app/billing/env/prod/api-1' });
  const issued = await admin.call('POST', '/v1/certs', { name: 'api-1', app: 'billing', env: 'prod', role: 'workload', ttl: 3600, csr });
  assert.equal(issued.status, 200, issued.text);
  assert.equal(issued.body.spiffeId, 'spiffe://ward.test/app/billing/env/prod/api-1');
  const c = client(server, { cert: issued.body.certificate, key: pair.privateKeyPem });
  assert.equal((await c.call('GET', '/v1/env/billing/prod')).status, 200);
  const listed = await admin.call('GET', '/v1/certs');
  assert.ok(listed.body.certificates.some((r: { serial: string }) => r.serial === issued.body.serial));
  assert.equal((await admin.call('POST', '/v1/certs/api-1/revoke')).status, 200);
  assert.equal((await c.call('GET', '/v1/env/billing/prod')).status, 401);
  c.close();
  const wrongCsr = await admin.call('POST', '/v1/certs', { name: 'api-2', app: 'billing', env: 'prod', role: 'workload', csr });
  assert.equal(wrongCsr.status, 400);
  assert.equal(wrongCsr.body.error.code, 'ERR_PKI_INVALID_CSR');
  const issues = (await audits()).filter((r) => r.operation === 'cert.issue').map((r) => [r.path, r.outcome]);
  assert.deepEqual(issues, [['certs/api-1', 'granted'], ['certs/api-2', 'bad-request']], 'the audit names the certificate');
});

test('GET /v1/certs pages in issue order: every record once across pages; bad cursor and limit are 400', async () => {
  for (let i = 0; i < 5; i++) {
    await server.store.recordCertificate({
      serial: `c0ffee0${i}`, name: `paged-${i}`, spiffeId: `spiffe://ward.test/app/paged/env/prod/paged-${i}`, app: 'paged', env: 'prod', role: 'workload',
      notBefore: 1, notAfter: 2, fingerprint: 'f'.repeat(64), issuedAt: 1000 + (i >> 1), revokedAt: null,
    });
  }
  const whole = await admin.call('GET', '/v1/certs?limit=1000');
  assert.equal(whole.status, 200, whole.text);
  assert.equal(whole.body.next, null);
  const all = whole.body.certificates as { serial: string; issuedAt: number }[];
  assert.ok(all.length >= 5);
  const sorted = [...all].sort((a, b) => a.issuedAt - b.issuedAt || (a.serial < b.serial ? -1 : 1));
  assert.deepEqual(all, sorted, 'ordered by (issuedAt, serial)');

  const first = await admin.call('GET', '/v1/certs?limit=2');
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(first.body.certificates.map((c: { serial: string }) => c.serial), ['c0ffee00', 'c0ffee01'], 'the oldest first');
  assert.equal(typeof first.body.next, 'string');
  const second = await admin.call('GET', `/v1/certs?limit=2&cursor=${first.body.next}`);
  assert.deepEqual(second.body.certificates.map((c: { serial: string }) => c.serial), ['c0ffee02', 'c0ffee03'], 'ties on issuedAt resume by serial');

  const paged: unknown[] = [];
  let cursor: string | null = null;
  do {
    const page = await admin.call('GET', `/v1/certs?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
    assert.equal(page.status, 200, page.text);
    assert.ok(page.body.certificates.length <= 2);
    paged.push(...page.body.certificates);
    cursor = page.body.next;
  } while (cursor !== null);
  assert.deepEqual(paged, all, 'no gap, no repeat');

  for (const query of ['cursor=not-a-cursor', `cursor=${Buffer.from('["a","b","c"]').toString('base64url')}`, 'cursor=a%2Fb', 'limit=0', 'limit=10000', 'limit=-1', 'limit=two', 'offset=2']) {
    const bad = await admin.call('GET', `/v1/certs?${query}`);
    assert.equal(bad.status, 400, `${query}: ${bad.text}`);
    assert.equal(bad.body.error.code, 'ERR_API_BAD_REQUEST', query);
  }
  assert.equal((await billing.call('GET', '/v1/certs?limit=2')).status, 403);
});

test('audit: long-poll wakes on a new record, and the chain verifies', async () => {
  const head = await admin.call('GET', '/v1/audit?limit=1000');
  const last = head.body.records.at(-1).seq;
  const started = Date.now();
  const poll = admin.call('GET', `/v1/audit?after=${last}&wait=10`);
  await new Promise((r) => setTimeout(r, 200));
  await put('tail/prod/X', 'x');
  const got = await poll;
  assert.ok(Date.now() - started < 5000);
  assert.ok(got.body.records.some((r: { operation: string; path: string }) => r.operation === 'secret.write' && r.path === 'tail/prod/X'));
  const verify = await admin.call('GET', '/v1/audit/verify');
  assert.equal(verify.body.ok, true);
  assert.ok(verify.body.count > 50);
  const direct = await verifyAuditChain(readAllAudit(server.store));
  assert.equal(direct.ok, true);
});

test('OpenAPI: served document equals docs/openapi.json', async () => {
  const served = await billing.call('GET', '/v1/openapi.json');
  assert.equal(served.status, 200);
  const file = new URL('../../docs/openapi.json', import.meta.url);
  if (process.env.WARD_WRITE_OPENAPI === '1') {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, served.text);
  }
  assert.ok(served.text === readFileSync(file, 'utf8'), 'docs/openapi.json is stale: run WARD_WRITE_OPENAPI=1 node --test test/server/api.test.ts');
  const doc = JSON.parse(served.text);
  assert.equal(doc.openapi, '3.1.0');
  for (const p of ['/v1/secrets/{app}/{env}/{name}', '/v1/env/{app}/{env}', '/v1/policies/explain', '/v1/audit', '/v1/whoami']) assert.ok(doc.paths[p], p);
});

test('watch: long-poll answers when APP/ENV changes, or with the same revision after wait', async () => {
  const { revision } = (await billing.call('GET', '/v1/env/billing/prod')).body;
  assert.ok(Number.isInteger(revision));
  const started = Date.now();
  const waiting = billing.call('GET', `/v1/watch/billing/prod?revision=${revision}&wait=20`);
  await new Promise((r) => setTimeout(r, 150));
  await put('billing/prod/WATCHED', 'x');
  const changed = await waiting;
  assert.ok(changed.body.revision > revision);
  assert.ok(Date.now() - started < 5000);
  const quiet = await billing.call('GET', `/v1/watch/billing/prod?revision=${changed.body.revision}&wait=1`);
  assert.equal(quiet.body.revision, changed.body.revision);
  assert.equal((await billing.call('GET', `/v1/watch/billing/prod?revision=${revision}&wait=61`)).status, 400);
  const other = await web.call('GET', `/v1/watch/billing/prod?revision=0&wait=1`);
  assert.equal(other.status, 403);
});
