import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import { createCA, createCsr, generateKeyPair, issueCertificate, MAX_CSR_BYTES, verifyCsr } from '../../src/pki/index.ts';
import { x509 } from '../../src/pki/x509.ts';
import { WardError } from '../../src/errors.ts';

const ID = 'spiffe://ward.local/app/web/env/prod/web-1';
const code = (c: string) => (e: unknown) => e instanceof WardError && e.code === c;
const x = await x509();
const key = generateKeyPair();
const csrPem = await createCsr({ privateKeyPem: key.privateKeyPem, spiffeId: ID });

type Alg = { name: string; namedCurve?: string; hash?: string; modulusLength?: number; publicExponent?: Uint8Array };

/** A CSR made directly with @peculiar/x509, to build what Ward's own createCsr never would. */
async function rawCsr(options: { alg?: Alg; sign?: Alg; names?: { type: 'url' | 'dns' | 'ip'; value: string }[]; extensions?: InstanceType<typeof x.Extension>[]; attributes?: InstanceType<typeof x.Attribute>[] } = {}) {
  const alg = options.alg ?? { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = (await webcrypto.subtle.generateKey(alg as webcrypto.EcKeyGenParams, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const extensions = options.extensions ?? [];
  if (options.names) extensions.push(new x.SubjectAlternativeNameExtension(options.names));
  const csr = await x.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=web-1',
    keys,
    signingAlgorithm: options.sign ?? { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
    ...(options.attributes ? { attributes: options.attributes } : {}),
  });
  return csr.toString('pem');
}

test('verifyCsr accepts Ward\'s own CSR and returns the key', async () => {
  const v = await verifyCsr(csrPem, { spiffeId: ID });
  assert.equal(v.spiffeId, ID);
  assert.equal(createPublicKey(v.publicKeyPem).export({ format: 'jwk' }).x, createPublicKey(key.publicKeyPem).export({ format: 'jwk' }).x);
});

test('a CSR with no SAN is fine: the SPIFFE ID comes from the server', async () => {
  await verifyCsr(await rawCsr(), { spiffeId: ID });
  await verifyCsr(await rawCsr({ names: [{ type: 'url', value: ID }] }), { spiffeId: ID });
});

test('issueCertificate from a CSR issues for the expected ID with the CSR\'s key', async () => {
  const ca = await createCA({ trustDomain: 'ward.local' });
  const issued = await issueCertificate({ ca, role: 'workload', name: 'web-1', app: 'web', env: 'prod', csr: csrPem });
  const cert = new X509Certificate(issued.certPem);
  assert.equal(cert.subjectAltName, `URI:${ID}`);
  assert.equal(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(key.privateKeyPem)), true);
  await assert.rejects(issueCertificate({ ca, role: 'workload', name: 'web-2', app: 'web', env: 'prod', csr: csrPem }), code('ERR_PKI_INVALID_CSR'));
});

test('refuses an RSA key', async () => {
  const rsa = await rawCsr({
    alg: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  });
  await assert.rejects(verifyCsr(rsa, { spiffeId: ID }), (e: unknown) => code('ERR_PKI_INVALID_CSR')(e) && /P-256/.test((e as Error).message));
});

test('refuses a P-384 key', async () => {
  const p384 = await rawCsr({ alg: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } });
  await assert.rejects(verifyCsr(p384, { spiffeId: ID }), code('ERR_PKI_INVALID_CSR'));
});

test('refuses a signature hash other than SHA-256', async () => {
  await assert.rejects(verifyCsr(await rawCsr({ sign: { name: 'ECDSA', hash: 'SHA-384' } }), { spiffeId: ID }), code('ERR_PKI_INVALID_CSR'));
});

test('refuses extra SANs', async () => {
  for (const names of [
    [{ type: 'url' as const, value: ID }, { type: 'dns' as const, value: 'evil.example.com' }],
    [{ type: 'url' as const, value: ID }, { type: 'url' as const, value: 'spiffe://ward.local/admin/root' }],
    [{ type: 'ip' as const, value: '10.0.0.1' }],
    [{ type: 'dns' as const, value: 'web-1' }],
  ]) {
    await assert.rejects(verifyCsr(await rawCsr({ names }), { spiffeId: ID }), code('ERR_PKI_INVALID_CSR'));
  }
});

test('refuses another app\'s (or an admin\'s) SPIFFE ID', async () => {
  for (const other of ['spiffe://ward.local/app/billing/env/prod/web-1', 'spiffe://ward.local/app/web/env/dev/web-1', 'spiffe://ward.local/admin/root', 'spiffe://other.local/app/web/env/prod/web-1']) {
    const csr = await createCsr({ privateKeyPem: key.privateKeyPem, spiffeId: other });
    await assert.rejects(verifyCsr(csr, { spiffeId: ID }), (e: unknown) => code('ERR_PKI_INVALID_CSR')(e) && /different SPIFFE ID/.test((e as Error).message));
  }
});

test('refuses requested extensions other than subjectAltName, and unexpected attributes', async () => {
  const ca = await rawCsr({ extensions: [new x.BasicConstraintsExtension(true, undefined, true)] });
  await assert.rejects(verifyCsr(ca, { spiffeId: ID }), code('ERR_PKI_INVALID_CSR'));
  const eku = await rawCsr({ extensions: [new x.ExtendedKeyUsageExtension([x.ExtendedKeyUsage.serverAuth])] });
  await assert.rejects(verifyCsr(eku, { spiffeId: ID }), code('ERR_PKI_INVALID_CSR'));
  const pw = await rawCsr({ attributes: [new x.ChallengePasswordAttribute('pw')] });
  await assert.rejects(verifyCsr(pw, { spiffeId: ID }), code('ERR_PKI_INVALID_CSR'));
});

test('refuses a bad signature', async () => {
  const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const at = der.indexOf(Buffer.from('web-1'));
  assert.ok(at > 0);
  der[at + 4] = '2'.charCodeAt(0); // CN=web-2: the signed bytes change, the signature does not
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(verifyCsr(tampered, { spiffeId: ID }), (e: unknown) => code('ERR_PKI_INVALID_CSR')(e) && /signature/.test((e as Error).message));
  // a signature by another key over the same request
  const other = generateKeyPair();
  const otherCsr = await createCsr({ privateKeyPem: other.privateKeyPem, spiffeId: ID });
  const b = Buffer.from(otherCsr.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const spkiA = createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' });
  const spkiB = createPublicKey(other.publicKeyPem).export({ type: 'spki', format: 'der' });
  const swapped = Buffer.from(b);
  swapped.set(spkiA, b.indexOf(spkiB)); // key A, signature by key B
  await assert.rejects(verifyCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${swapped.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`, { spiffeId: ID }), code('ERR_PKI_INVALID_CSR'));
});

test('refuses oversized input before parsing it', async () => {
  const big = csrPem + ' '.repeat(MAX_CSR_BYTES);
  await assert.rejects(verifyCsr(big, { spiffeId: ID }), code('ERR_PKI_TOO_LARGE'));
  await assert.rejects(verifyCsr(Buffer.alloc(MAX_CSR_BYTES + 1, 0x41), { spiffeId: ID }), code('ERR_PKI_TOO_LARGE'));
});

test('refuses malformed PEM and DER', async () => {
  const bad = [
    '',
    'not a csr',
    csrPem.replace('CERTIFICATE REQUEST', 'CERTIFICATE'),
    csrPem + csrPem,
    `junk\n${csrPem}`,
    `${csrPem}trailing`,
    csrPem.replace(/\n([A-Za-z0-9+/]{10})/, '\n$1!'),
    '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
    `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.alloc(64, 0x30).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`,
  ];
  for (const pem of bad) await assert.rejects(verifyCsr(pem, { spiffeId: ID }), code('ERR_PKI_INVALID_CSR'), JSON.stringify(pem.slice(0, 40)));
  // trailing bytes inside the DER
  const der = Buffer.concat([Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'), Buffer.from([0, 0])]);
  await assert.rejects(verifyCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`, { spiffeId: ID }), code('ERR_PKI_INVALID_CSR'));
});

test('accepts CRLF line ends', async () => {
  await verifyCsr(csrPem.replace(/\n/g, '\r\n'), { spiffeId: ID });
});

test('an invalid expected ID is refused', async () => {
  await assert.rejects(verifyCsr(csrPem, { spiffeId: 'spiffe://ward.local/nope' }), code('ERR_PKI_INVALID_SPIFFE_ID'));
});
