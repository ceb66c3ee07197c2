/**
 * Renewal over real mTLS: identities enrolled through the enrolment listener with a short
 * workload TTL, renewed by WardClient ({renew: true}) before they expire and picked up without a
 * restart; revoked, expired, unrecorded and admin certificates are refused.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildEnrollServer } from '../../src/server/enroll.ts';
import { enrol } from '../../src/client/enroll.ts';
import { renewalDue, renewIdentity, type Renewed } from '../../src/client/renew.ts';
import { WardClient } from '../../src/client/ward-client.ts';
import { identityFromCertificate } from '../../src/pki/identity.ts';
import { writeIdentityDir } from '../../src/pki/identity-dir.ts';
import { WardError } from '../../src/errors.ts';
import { client, makePki, startTestServer, TRUST_DOMAIN, type Client, type Pki, type TestServer } from '../server/helpers.ts';

const TTL = 60_000;
let pki: Pki;
let api: TestServer;
let enrolServer: FastifyInstance;
let enrolUrl: string;
let apiUrl: string;
let adminClient: Client;
let work: string;
let n = 0;

before(async () => {
  pki = await makePki();
  api = await startTestServer(pki, { workloadTtlMs: TTL });
  apiUrl = `https://localhost:${api.port}`;
  enrolServer = await buildEnrollServer({ store: api.store, tls: { cert: pki.server.cert, key: pki.server.key }, ca: pki.ca, trustDomain: TRUST_DOMAIN, workloadTtlMs: TTL });
  await enrolServer.listen({ port: 0, host: '127.0.0.1' });
  enrolUrl = `https://localhost:${(enrolServer.server.address() as AddressInfo).port}`;
  adminClient = client(api, pki.admin);
  work = mkdtempSync(join(tmpdir(), 'ward-renew-test-'));
});

after(async () => {
  adminClient?.close();
  await enrolServer?.close();
  await api?.close();
  rmSync(work, { recursive: true, force: true });
});

async function enrolled(name: string): Promise<string> {
  const r = await adminClient.call('POST', '/v1/tokens', { app: 'shop', env: 'prod' });
  assert.equal(r.status, 200, r.text);
  const out = join(work, `id-${++n}`);
  await enrol({ server: enrolUrl, token: r.body.token, caFingerprint: pki.ca.fingerprint, out, name });
  return out;
}

const certOf = (dir: string) => identityFromCertificate(readFileSync(join(dir, 'cert.pem'), 'utf8'));

test('renewalDue is two thirds into the validity period', () => {
  const cert = pki.server.cert;
  const from = pki.server.notBefore.getTime();
  const to = pki.server.notAfter.getTime();
  assert.equal(renewalDue(cert), from + Math.floor(((to - from) * 2) / 3));
});

test('WardClient renews a short-lived certificate before it expires and uses the new one without a restart', async () => {
  const dir = await enrolled('renew-me');
  const first = certOf(dir);
  // enrolled with the server's workload TTL
  assert.ok(first.notAfter.getTime() - Date.now() <= TTL + 1000);
  let renewed: { r: Renewed; at: number } | undefined;
  const logs: string[] = [];
  const ward = new WardClient({ servers: apiUrl, identity: dir, renew: true, log: (m) => logs.push(m) });
  try {
    assert.equal((await ward.whoami()).serial, first.serial);
    const end = Date.now() + 30_000;
    while (certOf(dir).serial === first.serial) {
      if (Date.now() > end) throw new Error(`no renewal: ${logs.join('; ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    renewed = { r: { serial: certOf(dir).serial, notAfter: certOf(dir).notAfter }, at: Date.now() };
    assert.ok(renewed.at < first.notAfter.getTime(), 'renewed while the old certificate was still valid');
    const second = certOf(dir);
    assert.equal(second.spiffeId, first.spiffeId, 'same SPIFFE ID');
    assert.ok(second.notAfter.getTime() >= first.notAfter.getTime());
    // the client's next connection uses the renewed certificate
    const end2 = Date.now() + 30_000;
    for (;;) {
      const me = await ward.whoami();
      if (me.serial === second.serial) break;
      if (Date.now() > end2) throw new Error('the client kept the old certificate');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    ward.close();
  }
  const audit = (await api.store.readAudit(0, 10_000)).filter((r) => r.operation === 'cert.renew');
  assert.ok(audit.some((r) => r.outcome === 'granted' && r.serial === first.serial && r.identity === first.spiffeId));
  const key = readFileSync(join(dir, 'key.pem'), 'utf8');
  assert.ok(key.includes('PRIVATE KEY'), 'the key stays in place');
});

test('a revoked certificate cannot renew; cert.pem stays as it was', async () => {
  const dir = await enrolled('revoked-one');
  const before = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const { serial } = certOf(dir);
  const r = await adminClient.call('POST', `/v1/certs/${serial}/revoke`, {});
  assert.equal(r.status, 200, r.text);
  await assert.rejects(renewIdentity(dir, [apiUrl]), (e: unknown) => e instanceof WardError && ['ERR_TLS_CLIENT_REJECTED', 'ERR_API_UNAUTHENTICATED'].includes(e.code));
  assert.equal(readFileSync(join(dir, 'cert.pem'), 'utf8'), before);
  const granted = (await api.store.readAudit(0, 10_000)).filter((x) => x.operation === 'cert.renew' && x.serial === serial && x.outcome === 'granted');
  assert.deepEqual(granted, []);
});

test('an expired certificate, one not on record, and an admin certificate cannot renew', async () => {
  const write = (name: string, cred: { cert: string; key: string }) => {
    const dir = join(work, name);
    writeIdentityDir(dir, { keyPem: cred.key, certPem: cred.cert, caPem: pki.ca.certPem });
    return dir;
  };
  const expired = await pki.workload('shop', 'prod', 'old', { now: new Date(Date.now() - 3_600_000), ttl: 60_000 });
  await assert.rejects(renewIdentity(write('expired', expired), [apiUrl]), (e: unknown) => e instanceof WardError && ['ERR_TLS_CLIENT_REJECTED', 'ERR_API_UNAUTHENTICATED'].includes(e.code));
  const unrecorded = await pki.workload('shop', 'prod', 'stray');
  await assert.rejects(renewIdentity(write('stray', unrecorded), [apiUrl]), (e: unknown) => e instanceof WardError && e.code === 'ERR_ENROLL_RENEW_REFUSED');
  await assert.rejects(renewIdentity(write('admin', pki.admin), [apiUrl]), (e: unknown) => e instanceof WardError && e.code === 'ERR_ENROLL_RENEW_REFUSED');
  const refusals = (await api.store.readAudit(0, 10_000)).filter((x) => x.operation === 'cert.renew' && x.outcome === 'denied');
  assert.ok(refusals.length >= 2);
});
