/**
 * Enrolment end to end over real sockets: the mTLS API (tokens), the separate enrolment listener
 * (no client certificate), and the real client (src/client/enroll.ts) writing an identity that
 * then works over mTLS. Refusals are checked from the server's side, in its audit log.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildEnrollServer } from '../../src/server/enroll.ts';
import { enrol } from '../../src/client/enroll.ts';
import { WardClient } from '../../src/client/ward-client.ts';
import { createCA } from '../../src/pki/ca.ts';
import { createCsr } from '../../src/pki/csr.ts';
import { generateKeyPair } from '../../src/pki/keys.ts';
import { x509 } from '../../src/pki/x509.ts';
import { hashToken, newToken } from '../../src/server/tokens.ts';
import { WardError } from '../../src/errors.ts';
import { client, makePki, startTestServer, TRUST_DOMAIN, type Client, type Pki, type TestServer } from './helpers.ts';

let pki: Pki;
let api: TestServer;
let enrolServer: FastifyInstance;
let enrolUrl: string;
let enrolPort: number;
let adminClient: Client;
let work: string;

const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;

async function startEnrol(extra: Partial<Parameters<typeof buildEnrollServer>[0]> = {}): Promise<{ app: FastifyInstance; port: number }> {
  const app = await buildEnrollServer({ store: api.store, tls: { cert: pki.server.cert, key: pki.server.key }, ca: pki.ca, trustDomain: TRUST_DOMAIN, rateLimit: { burst: 1000, perMinute: 1000 }, ...extra });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, port: (app.server.address() as AddressInfo).port };
}

before(async () => {
  pki = await makePki();
  api = await startTestServer(pki);
  ({ app: enrolServer, port: enrolPort } = await startEnrol());
  enrolUrl = `https://localhost:${enrolPort}`;
  adminClient = client(api, pki.admin);
  work = mkdtempSync(join(tmpdir(), 'ward-enrol-test-'));
});

after(async () => {
  adminClient?.close();
  await enrolServer?.close();
  await api?.close();
  rmSync(work, { recursive: true, force: true });
});

async function createToken(body: Record<string, unknown>): Promise<string> {
  const r = await adminClient.call('POST', '/v1/tokens', body);
  assert.equal(r.status, 200, r.text);
  assert.match(r.body.token, /^wet1_[A-Za-z0-9_-]{43}$/);
  return r.body.token as string;
}

async function enrolRecords(): Promise<{ operation: string; outcome: string; detail?: string; path: string; identity: string }[]> {
  return (await api.store.readAudit(0, 10_000)).filter((r) => r.operation.startsWith('enroll'));
}

let dirs = 0;
const outDir = () => join(work, `id-${++dirs}`);

test('a token enrols once: the identity is written and works over mTLS; the token is stored only as a hash', async () => {
  const token = await createToken({ app: 'shop', env: 'prod', ttl: 900 });
  const out = outDir();
  const got = await enrol({ server: enrolUrl, token, caFingerprint: pki.ca.fingerprint, out, name: 'web-7' });
  assert.equal(got.spiffeId, `spiffe://${TRUST_DOMAIN}/app/shop/env/prod/web-7`);
  assert.equal(statSync(join(out, 'key.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(out).mode & 0o777, 0o700);
  assert.equal(readFileSync(join(out, 'ca.pem'), 'utf8'), pki.ca.certPem);
  // default lifetime of enrolled certificates: 24 h
  assert.ok(Math.abs(got.notAfter.getTime() - Date.now() - 24 * 3_600_000) < 120_000);

  const ward = new WardClient({ servers: `https://localhost:${api.port}`, identity: out });
  try {
    const me = await ward.whoami();
    assert.equal(me.spiffeId, got.spiffeId);
    assert.equal(me.serial, got.serial);
  } finally {
    ward.close();
  }

  const stored = await api.store.findToken!(hashToken(token));
  assert.ok(stored && stored.usedAt !== null);
  const db = readFileSync(api.dbPath);
  assert.equal(db.indexOf(token), -1, 'the token itself is not in the database');

  await assert.rejects(enrol({ server: enrolUrl, token, caFingerprint: pki.ca.fingerprint, out: outDir() }), code('ERR_TOKEN_INVALID'));
  const records = await enrolRecords();
  const hashPath = `tokens/${hashToken(token).slice(0, 16)}`;
  assert.deepEqual(records.filter((r) => r.path === hashPath && r.operation === 'enroll').map((r) => [r.outcome, r.detail?.replace(/=.*/, '')]), [['granted', 'serial'], ['denied', 'reused']]);
  assert.equal(records.find((r) => r.path === hashPath && r.outcome === 'granted')?.identity, got.spiffeId);
});

test('without --name the instance is random; the SPIFFE ID names the token\'s app and env', async () => {
  const token = await createToken({ app: 'shop', env: 'dev' });
  const got = await enrol({ server: enrolUrl, token, caFingerprint: pki.ca.fingerprint, out: outDir() });
  assert.match(got.spiffeId, new RegExp(`^spiffe://${TRUST_DOMAIN}/app/shop/env/dev/[0-9a-f]{12}$`));
});

test('of concurrent redeemers of one token exactly one gets a certificate', async () => {
  const token = await createToken({ app: 'shop', env: 'prod' });
  const results = await Promise.allSettled([1, 2, 3, 4].map(() => enrol({ server: enrolUrl, token, caFingerprint: pki.ca.fingerprint, out: outDir() })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) if (r.status === 'rejected') assert.ok(code('ERR_TOKEN_INVALID')(r.reason), String(r.reason));
});

test('an expired token is refused and audited as expired', async () => {
  const token = newToken();
  const now = Date.now();
  await api.store.putToken({ hash: hashToken(token), app: 'shop', env: 'prod', cidrs: [], expiresAt: now - 1000, createdAt: now - 60_000, createdBy: 'test', usedAt: null });
  await assert.rejects(enrol({ server: enrolUrl, token, caFingerprint: pki.ca.fingerprint, out: outDir() }), code('ERR_TOKEN_INVALID'));
  const r = (await enrolRecords()).filter((x) => x.path === `tokens/${hashToken(token).slice(0, 16)}`);
  assert.deepEqual(r.map((x) => [x.operation, x.outcome, x.detail]), [['enroll', 'denied', 'expired']]);
});

test('an unknown token is refused and audited as unknown', async () => {
  const token = newToken();
  await assert.rejects(enrol({ server: enrolUrl, token, caFingerprint: pki.ca.fingerprint, out: outDir() }), code('ERR_TOKEN_INVALID'));
  const r = (await enrolRecords()).filter((x) => x.path === `tokens/${hashToken(token).slice(0, 16)}`);
  assert.deepEqual(r.map((x) => x.detail), ['unknown']);
});

test('a token bound to other source addresses is refused (out-of-cidr) and stays unused; a matching range works', async () => {
  const elsewhere = await createToken({ app: 'shop', env: 'prod', cidrs: ['10.0.0.0/8', '2001:db8::/32'] });
  await assert.rejects(enrol({ server: enrolUrl, token: elsewhere, caFingerprint: pki.ca.fingerprint, out: outDir() }), code('ERR_TOKEN_INVALID'));
  const r = (await enrolRecords()).filter((x) => x.path === `tokens/${hashToken(elsewhere).slice(0, 16)}`);
  assert.deepEqual(r.map((x) => [x.outcome, x.detail]), [['denied', 'out-of-cidr']]);
  assert.equal((await api.store.findToken!(hashToken(elsewhere)))?.usedAt, null);

  const here = await createToken({ app: 'shop', env: 'prod', cidrs: ['127.0.0.0/8'] });
  const got = await enrol({ server: enrolUrl, token: here, caFingerprint: pki.ca.fingerprint, out: outDir() });
  assert.match(got.spiffeId, /\/app\/shop\/env\/prod\//);

  const bad = await adminClient.call('POST', '/v1/tokens', { app: 'shop', env: 'prod', cidrs: ['10.0.0.0/99'] });
  assert.equal(bad.body.error.code, 'ERR_API_BAD_REQUEST');
});

test('a wrong CA fingerprint aborts before the token is sent: no enrol POST reaches the server', async () => {
  const token = await createToken({ app: 'shop', env: 'prod' });
  const before = (await enrolRecords()).length;
  const other = await createCA({ trustDomain: TRUST_DOMAIN });
  const out = outDir();
  await assert.rejects(enrol({ server: enrolUrl, token, caFingerprint: other.fingerprint, out }), code('ERR_ENROLL_CA_MISMATCH'));
  const records = (await enrolRecords()).slice(before);
  assert.deepEqual(records.map((r) => r.operation), ['enroll.ca'], 'only the CA was fetched; no POST /v1/enroll arrived');
  assert.equal((await api.store.findToken!(hashToken(token)))?.usedAt, null);
  assert.throws(() => statSync(join(out, 'key.pem')));
  // the same token still works with the right pin
  await enrol({ server: enrolUrl, token, caFingerprint: pki.ca.fingerprint, out });
});

test('a listener whose certificate does not chain to the pinned CA is refused even when it serves that CA', async () => {
  const impostorPki = await makePki();
  const { app, port } = await startEnrol({ tls: { cert: impostorPki.server.cert, key: impostorPki.server.key } });
  try {
    const token = await createToken({ app: 'shop', env: 'prod' });
    await assert.rejects(enrol({ server: `https://localhost:${port}`, token, caFingerprint: pki.ca.fingerprint, out: outDir() }), (e: unknown) => code('ERR_ENROLL_CA_MISMATCH')(e) && /does not chain/.test((e as Error).message));
    assert.equal((await api.store.findToken!(hashToken(token)))?.usedAt, null);
  } finally {
    await app.close();
  }
});

async function rsaCsr(): Promise<string> {
  const x = await x509();
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const keys = await webcrypto.subtle.generateKey(alg, false, ['sign', 'verify']);
  const csr = await x.Pkcs10CertificateRequestGenerator.create({ name: 'CN=rsa', keys, signingAlgorithm: alg });
  return csr.toString('pem');
}

async function extraSanCsr(spiffeId: string): Promise<string> {
  const x = await x509();
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const csr = await x.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=extra',
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }, { type: 'dns', value: 'evil.example' }])],
  });
  return csr.toString('pem');
}

test('bad CSRs are refused (wrong key type, extra SANs, another app\'s SPIFFE ID, oversized) and do not spend the token', async () => {
  const token = await createToken({ app: 'shop', env: 'prod' });
  const anon = client({ port: enrolPort, pki }, null);
  try {
    const id = `spiffe://${TRUST_DOMAIN}/app/shop/env/prod/n1`;
    const other = await createCsr({ privateKeyPem: generateKeyPair().privateKeyPem, spiffeId: `spiffe://${TRUST_DOMAIN}/app/bank/env/prod/n1` });
    const cases: [string, unknown, number, string][] = [
      ['rsa', { token, csr: await rsaCsr(), name: 'n1' }, 400, 'ERR_PKI_INVALID_CSR'],
      ['extra SAN', { token, csr: await extraSanCsr(id), name: 'n1' }, 400, 'ERR_PKI_INVALID_CSR'],
      ['other app', { token, csr: other, name: 'n1' }, 400, 'ERR_PKI_INVALID_CSR'],
      ['long csr', { token, csr: 'A'.repeat(9000) }, 400, 'ERR_API_BAD_REQUEST'],
      ['huge body', { token, csr: 'x', pad: 'A'.repeat(20_000) }, 413, 'ERR_API_TOO_LARGE'],
      ['extra field', { token, csr: other, role: 'admin' }, 400, 'ERR_API_BAD_REQUEST'],
    ];
    for (const [what, body, status, c] of cases) {
      const r = await anon.call('POST', '/v1/enroll', body);
      assert.equal(r.status, status, `${what}: ${r.text}`);
      assert.equal(r.body.error.code, c, what);
      assert.ok(!r.text.includes(token), 'the token is never echoed');
    }
    assert.equal((await api.store.findToken!(hashToken(token)))?.usedAt, null, 'the token is still unused');
    const refusals = (await enrolRecords()).filter((r) => r.path === `tokens/${hashToken(token).slice(0, 16)}`);
    assert.deepEqual(refusals.map((r) => r.detail), ['bad-csr ERR_PKI_INVALID_CSR', 'bad-csr ERR_PKI_INVALID_CSR', 'bad-csr ERR_PKI_INVALID_CSR']);
    // the mTLS routes do not exist on this listener
    assert.equal((await anon.call('GET', '/v1/whoami')).status, 404);
    assert.equal((await anon.call('POST', '/v1/tokens', { app: 'shop', env: 'prod' })).status, 404);
  } finally {
    anon.close();
  }
});

test('token creation is an admin operation', async () => {
  const cred = await pki.workload('shop', 'prod', 'w1');
  const w = client(api, cred);
  try {
    const r = await w.call('POST', '/v1/tokens', { app: 'shop', env: 'prod' });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'ERR_API_DENIED');
  } finally {
    w.close();
  }
});

test('the enrolment listener rate-limits each source address', async () => {
  const { app, port } = await startEnrol({ rateLimit: { burst: 3, perMinute: 1 } });
  const anon = client({ port, pki }, null);
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await anon.call('GET', '/v1/enroll/ca')).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  } finally {
    anon.close();
    await app.close();
  }
});
