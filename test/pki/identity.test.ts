import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createCA, generateKeyPair, identityFromCertificate, issueCertificate, parseSubjectAltName } from '../../src/pki/index.ts';
import { WardError } from '../../src/errors.ts';

const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;
const ca = await createCA({ trustDomain: 'ward.local' });
const key = generateKeyPair();
const workload = await issueCertificate({ ca, role: 'workload', name: 'web-1', app: 'web', env: 'prod', publicKey: key.publicKeyPem });
const admin = await issueCertificate({ ca, role: 'admin', name: 'alice', publicKey: key.publicKeyPem });
const server = await issueCertificate({ ca, role: 'server', name: 's', publicKey: key.publicKeyPem, dnsNames: ['localhost'] });

test('workload identity from PEM, DER and X509Certificate', () => {
  const cert = new X509Certificate(workload.certPem);
  for (const input of [workload.certPem, cert.raw, cert, Buffer.from(workload.certPem)]) {
    assert.deepEqual(identityFromCertificate(input), {
      spiffeId: 'spiffe://ward.local/app/web/env/prod/web-1',
      trustDomain: 'ward.local',
      role: 'workload',
      app: 'web',
      env: 'prod',
      instance: 'web-1',
      name: 'web-1',
      serial: workload.serial,
      fingerprint: workload.fingerprint,
      notAfter: workload.notAfter,
    });
  }
});

test('admin identity', () => {
  const id = identityFromCertificate(admin.certPem);
  assert.equal(id.role, 'admin');
  assert.equal(id.name, 'alice');
  assert.equal(id.app, undefined);
  assert.equal(id.spiffeId, 'spiffe://ward.local/admin/alice');
});

test('from a node:tls-style peer certificate object, without parsing DER', () => {
  const cert = new X509Certificate(workload.certPem);
  const peer = {
    raw: cert.raw,
    subjectaltname: cert.subjectAltName!,
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    valid_to: cert.validTo,
    ext_key_usage: cert.keyUsage,
    ca: false,
  };
  assert.deepEqual(identityFromCertificate(peer), identityFromCertificate(cert));
});

test('trust domain check', () => {
  assert.equal(identityFromCertificate(workload.certPem, { trustDomain: 'ward.local' }).trustDomain, 'ward.local');
  assert.throws(() => identityFromCertificate(workload.certPem, { trustDomain: 'other.local' }), code('ERR_PKI_UNTRUSTED'));
});

test('refuses server and CA certificates, and garbage', () => {
  assert.throws(() => identityFromCertificate(server.certPem), code('ERR_PKI_INVALID_CERT'));
  assert.throws(() => identityFromCertificate(ca.certPem), code('ERR_PKI_INVALID_CERT'));
  assert.throws(() => identityFromCertificate('nope'), code('ERR_PKI_INVALID_CERT'));
  assert.throws(() => identityFromCertificate({} as never), (e: unknown) => code('ERR_PKI_INVALID_CERT')(e) && /no client certificate/.test((e as Error).message));
  assert.throws(() => identityFromCertificate(Buffer.from([0x30, 0x03, 1, 2, 3])), code('ERR_PKI_INVALID_CERT'));
  assert.throws(() => identityFromCertificate(Buffer.alloc(70_000)), code('ERR_PKI_TOO_LARGE'));
});

test('peer certificate objects: no URI, two URIs, non-SPIFFE URI, missing clientAuth', () => {
  const base = { raw: Buffer.from([1]), serialNumber: 'AB', fingerprint256: 'AA:BB', valid_to: 'Jan  1 00:00:00 2030 GMT', ext_key_usage: ['1.3.6.1.5.5.7.3.2'] };
  assert.throws(() => identityFromCertificate({ ...base, subjectaltname: 'DNS:a' }), code('ERR_PKI_INVALID_CERT'));
  assert.throws(() => identityFromCertificate({ ...base }), code('ERR_PKI_INVALID_CERT'));
  assert.throws(() => identityFromCertificate({ ...base, subjectaltname: 'URI:spiffe://ward.local/admin/a, URI:spiffe://ward.local/admin/b' }), code('ERR_PKI_INVALID_CERT'));
  assert.throws(() => identityFromCertificate({ ...base, subjectaltname: 'URI:https://ward.local/admin/a' }), code('ERR_PKI_INVALID_SPIFFE_ID'));
  assert.throws(() => identityFromCertificate({ ...base, subjectaltname: 'URI:spiffe://ward.local/admin/a', ext_key_usage: ['1.3.6.1.5.5.7.3.1'] }), code('ERR_PKI_INVALID_CERT'));
  assert.throws(() => identityFromCertificate({ ...base, subjectaltname: 'URI:spiffe://ward.local/admin/a', ca: true }), code('ERR_PKI_INVALID_CERT'));
  const id = identityFromCertificate({ ...base, subjectaltname: 'DNS:x, URI:spiffe://ward.local/admin/a' });
  assert.equal(id.serial, 'ab');
  assert.equal(id.fingerprint, 'sha256:aabb');
  assert.equal(id.notAfter.toISOString(), '2030-01-01T00:00:00.000Z');
});

test('parseSubjectAltName decodes node\'s quoted values, so a crafted value is not a second entry', () => {
  assert.deepEqual(parseSubjectAltName('DNS:a, IP Address:127.0.0.1, URI:spiffe://x/admin/a'), [['DNS', 'a'], ['IP Address', '127.0.0.1'], ['URI', 'spiffe://x/admin/a']]);
  assert.deepEqual(parseSubjectAltName('DNS:"x, URI:spiffe://ward.local/admin/root", URI:spiffe://ward.local/admin/a'), [
    ['DNS', 'x, URI:spiffe://ward.local/admin/root'],
    ['URI', 'spiffe://ward.local/admin/a'],
  ]);
  assert.deepEqual(parseSubjectAltName('URI:"a\\"b, c"'), [['URI', 'a"b, c']]);
  assert.deepEqual(parseSubjectAltName(''), []);
  for (const bad of ['nocolon', 'DNS:"unterminated', 'DNS:"a"x']) assert.throws(() => parseSubjectAltName(bad), code('ERR_PKI_INVALID_CERT'));
});
