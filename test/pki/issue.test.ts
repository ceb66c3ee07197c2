import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import {
  createCA, DEFAULT_CLIENT_TTL_MS, DEFAULT_SERVER_TTL_MS, fingerprint, generateKeyPair, issueCertificate, loadCA,
  normaliseFingerprint, normaliseSerial, verifyCertificate, checkFingerprint,
} from '../../src/pki/index.ts';
import { WardError } from '../../src/errors.ts';

const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;
const ca = await createCA({ trustDomain: 'ward.local' });
const key = generateKeyPair();

test('createCA: self-signed P-256 CA for the trust domain, PEM out', () => {
  const cert = new X509Certificate(ca.certPem);
  assert.equal(cert.ca, true);
  assert.equal(cert.checkIssued(cert), true);
  assert.equal(cert.verify(cert.publicKey), true);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.match(cert.subject, /CN=Ward CA/);
  assert.match(cert.subject, /O=ward\.local/);
  assert.equal(cert.subjectAltName, 'URI:spiffe://ward.local');
  assert.equal(ca.trustDomain, 'ward.local');
  assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(ca.fingerprint, fingerprint(ca.certPem));
  assert.match(ca.fingerprint, /^sha256:[0-9a-f]{64}$/);
  const years = (cert.validToDate.getTime() - Date.now()) / (365 * 86_400_000);
  assert.ok(years > 9.9 && years < 10.1, `CA lifetime ${years} years`);
  assert.ok(cert.validFromDate.getTime() <= Date.now() - 4 * 60_000, 'backdated for clock skew');
});

test('createCA: extensions are critical basicConstraints, keyUsage and name constraints', async () => {
  const { x509 } = await import('../../src/pki/x509.ts');
  const x = await x509();
  const cert = new x.X509Certificate(ca.certPem);
  const bc = cert.getExtension(x.BasicConstraintsExtension)!;
  assert.equal(bc.ca, true);
  assert.equal(bc.pathLength, 0);
  assert.equal(bc.critical, true);
  const ku = cert.getExtension(x.KeyUsagesExtension)!;
  assert.equal(ku.usages, x.KeyUsageFlags.keyCertSign | x.KeyUsageFlags.cRLSign);
  assert.equal(ku.critical, true);
  const nc = cert.getExtension('2.5.29.30')!;
  assert.equal(nc.critical, true);
  assert.ok(Buffer.from(nc.value).includes(Buffer.from('ward.local')));
});

test('loadCA reads the trust domain back and checks key and certificate agree', async () => {
  const loaded = loadCA(ca.certPem, ca.keyPem);
  assert.equal(loaded.trustDomain, 'ward.local');
  assert.equal(loaded.fingerprint, ca.fingerprint);
  const other = await createCA({ trustDomain: 'other.local' });
  assert.throws(() => loadCA(ca.certPem, other.keyPem), code('ERR_PKI_INVALID_CERT'));
  const leaf = await issueCertificate({ ca, role: 'admin', name: 'root', publicKey: key.publicKeyPem });
  assert.throws(() => loadCA(leaf.certPem, key.privateKeyPem), code('ERR_PKI_INVALID_CERT'));
});

test('createCA refuses a bad trust domain or lifetime', async () => {
  await assert.rejects(createCA({ trustDomain: 'Not Valid' }), code('ERR_PKI_INVALID_SPIFFE_ID'));
  await assert.rejects(createCA({ trustDomain: 'ward.local', ttl: 1000 }), code('ERR_USAGE'));
});

test('server certificate: serverAuth, DNS and IP SANs, 1 year, chains to the CA', async () => {
  const issued = await issueCertificate({
    ca, role: 'server', name: 'ward-server', publicKey: key.publicKeyPem, dnsNames: ['localhost', 'Ward.Example.com'], ips: ['127.0.0.1', '::1'],
  });
  const cert = new X509Certificate(issued.certPem);
  const root = new X509Certificate(ca.certPem);
  assert.equal(cert.checkIssued(root), true);
  assert.equal(cert.verify(root.publicKey), true);
  assert.equal(cert.ca, false);
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(cert.subjectAltName, 'DNS:localhost, DNS:ward.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  assert.equal(cert.checkHost('localhost'), 'localhost');
  assert.equal(cert.checkIP('::1'), '::1');
  assert.equal(issued.spiffeId, undefined);
  const days = (issued.notAfter.getTime() - Date.now()) / 86_400_000;
  assert.ok(Math.abs(days - DEFAULT_SERVER_TTL_MS / 86_400_000) < 1);
  assert.equal(verifyCertificate(issued.certPem, ca.certPem).serialNumber, cert.serialNumber);
});

test('workload certificate: clientAuth, one SPIFFE URI SAN, 720h default', async () => {
  const issued = await issueCertificate({ ca, role: 'workload', name: 'web-1', app: 'web', env: 'prod', publicKey: key.publicKeyPem });
  const cert = new X509Certificate(issued.certPem);
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(cert.subjectAltName, 'URI:spiffe://ward.local/app/web/env/prod/web-1');
  assert.equal(issued.spiffeId, 'spiffe://ward.local/app/web/env/prod/web-1');
  assert.match(cert.subject, /CN=web-1/);
  assert.ok(Math.abs(issued.notAfter.getTime() - Date.now() - DEFAULT_CLIENT_TTL_MS) < 60_000);
  assert.equal(cert.checkIssued(new X509Certificate(ca.certPem)), true);
  const explicit = await issueCertificate({ ca, role: 'workload', name: 'x', spiffeId: 'spiffe://ward.local/app/a/env/b/c', publicKey: key.publicKeyPem, ttl: 3_600_000 });
  assert.equal(new X509Certificate(explicit.certPem).subjectAltName, 'URI:spiffe://ward.local/app/a/env/b/c');
  assert.ok(Math.abs(explicit.notAfter.getTime() - Date.now() - 3_600_000) < 60_000);
});

test('admin certificate: spiffe://<td>/admin/<name>', async () => {
  const issued = await issueCertificate({ ca, role: 'admin', name: 'alice', publicKey: key.publicKeyPem });
  assert.equal(new X509Certificate(issued.certPem).subjectAltName, 'URI:spiffe://ward.local/admin/alice');
});

test('serial: 16 random bytes, positive, lowercase hex as node reports it; fingerprint of the DER', async () => {
  const serials = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const issued = await issueCertificate({ ca, role: 'admin', name: 'a', publicKey: key.publicKeyPem });
    const cert = new X509Certificate(issued.certPem);
    assert.match(issued.serial, /^[4-7][0-9a-f]{31}$/);
    assert.equal(issued.serial, cert.serialNumber.toLowerCase());
    assert.equal(normaliseSerial(cert.serialNumber), issued.serial);
    assert.equal(issued.fingerprint, `sha256:${cert.fingerprint256.replaceAll(':', '').toLowerCase()}`);
    serials.add(issued.serial);
  }
  assert.equal(serials.size, 8);
});

test('normaliseSerial and normaliseFingerprint accept what people paste', () => {
  assert.equal(normaliseSerial('4A:0B:FF'), '4a0bff');
  assert.equal(normaliseSerial('00:8a'), '8a');
  assert.equal(normaliseSerial('abc'), '0abc');
  assert.equal(normaliseSerial('0'), '0');
  assert.throws(() => normaliseSerial('xyz'), code('ERR_USAGE'));
  const hex = 'ab'.repeat(32);
  assert.equal(normaliseFingerprint(`SHA256:${hex.toUpperCase().match(/../g)!.join(':')}`), `sha256:${hex}`);
  assert.equal(normaliseFingerprint(hex), `sha256:${hex}`);
  assert.throws(() => normaliseFingerprint('sha256:abcd'), code('ERR_USAGE'));
});

test('checkFingerprint pins the CA', () => {
  checkFingerprint(ca.certPem, ca.fingerprint);
  checkFingerprint(ca.certPem, ca.fingerprint.toUpperCase());
  assert.throws(() => checkFingerprint(ca.certPem, `sha256:${'00'.repeat(32)}`), code('ERR_PKI_UNTRUSTED'));
});

test('verifyCertificate refuses another CA and expired certificates', async () => {
  const other = await createCA({ trustDomain: 'ward.local' });
  const issued = await issueCertificate({ ca: other, role: 'admin', name: 'a', publicKey: key.publicKeyPem });
  assert.throws(() => verifyCertificate(issued.certPem, ca.certPem), code('ERR_PKI_UNTRUSTED'));
  assert.throws(() => verifyCertificate(issued.certPem, issued.certPem), code('ERR_PKI_UNTRUSTED'));
  const later = new Date(Date.now() + DEFAULT_CLIENT_TTL_MS + 3_600_000);
  assert.throws(() => verifyCertificate(issued.certPem, other.certPem, { now: later }), (e: unknown) => e instanceof WardError && e.code === 'ERR_PKI_UNTRUSTED' && /expired/.test(e.message));
  assert.throws(() => verifyCertificate(issued.certPem, other.certPem, { now: new Date(Date.now() - 3_600_000) }), /not yet valid/);
});

test('a leaf never outlives its CA', async () => {
  const shortCa = await createCA({ trustDomain: 'ward.local', ttl: 2 * 3_600_000 });
  const issued = await issueCertificate({ ca: shortCa, role: 'workload', name: 'i', app: 'a', env: 'e', publicKey: key.publicKeyPem });
  assert.equal(issued.notAfter.getTime(), new X509Certificate(shortCa.certPem).validToDate.getTime());
});

test('issueCertificate refuses bad input', async () => {
  const base = { ca, publicKey: key.publicKeyPem };
  await assert.rejects(issueCertificate({ ...base, role: 'workload', name: 'i', spiffeId: 'spiffe://other.local/app/a/env/b/c' }), code('ERR_PKI_INVALID_SPIFFE_ID'));
  await assert.rejects(issueCertificate({ ...base, role: 'workload', name: 'i', spiffeId: 'spiffe://ward.local/admin/root' }), code('ERR_PKI_INVALID_SPIFFE_ID'));
  await assert.rejects(issueCertificate({ ...base, role: 'admin', name: 'i', spiffeId: 'spiffe://ward.local/app/a/env/b/c' }), code('ERR_PKI_INVALID_SPIFFE_ID'));
  await assert.rejects(issueCertificate({ ...base, role: 'workload', name: 'bad name', app: 'a', env: 'e' }), code('ERR_PKI_INVALID_SPIFFE_ID'));
  await assert.rejects(issueCertificate({ ...base, role: 'workload', name: 'i', app: 'a/b', env: 'e' }), code('ERR_PKI_INVALID_SPIFFE_ID'));
  await assert.rejects(issueCertificate({ ...base, role: 'server', name: 's', dnsNames: ['bad_name!'] }), code('ERR_USAGE'));
  await assert.rejects(issueCertificate({ ...base, role: 'server', name: 's', ips: ['300.1.1.1'] }), code('ERR_USAGE'));
  await assert.rejects(issueCertificate({ ...base, role: 'workload', name: 'i', app: 'a', env: 'e', ttl: 0 }), code('ERR_USAGE'));
  const rsa = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  await assert.rejects(issueCertificate({ ca, publicKey: rsa, role: 'admin', name: 'a' }), code('ERR_PKI_INVALID_CERT'));
  await assert.rejects(issueCertificate({ ...base, role: 'server', name: 's' }), TypeError);
  await assert.rejects(issueCertificate({ ...base, role: 'workload', name: 'i' }), TypeError);
  await assert.rejects(issueCertificate({ ca, role: 'admin', name: 'a' }), TypeError);
  await assert.rejects(issueCertificate({ ...base, role: 'client' as 'admin', name: 'a' }), TypeError);
  const expired = await createCA({ trustDomain: 'ward.local', ttl: 3_600_000, now: new Date(Date.now() - 2 * 3_600_000) });
  await assert.rejects(issueCertificate({ ca: expired, role: 'admin', name: 'a', publicKey: key.publicKeyPem }), code('ERR_PKI_UNTRUSTED'));
});
