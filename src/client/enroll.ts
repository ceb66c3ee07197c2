/**
 * `ward enroll`: a new workload obtains its identity with a one-time token (docs/enrol.md).
 *
 *   1. GET /v1/enroll/ca from the enrolment listener, over TLS 1.3 without a client certificate.
 *      Nothing is trusted yet, so the server's certificate is not verified by the handshake;
 *      instead the CA in the answer must match the pinned `--ca-fingerprint` (SHA-256 of its DER)
 *      and the server's certificate must chain to that CA and name the host. Otherwise enrolment
 *      stops with ERR_ENROLL_CA_MISMATCH and the token is never sent.
 *   2. A P-256 key is generated here (it never leaves the machine) and a CSR naming nothing.
 *   3. POST /v1/enroll {token, csr, name?} on a new connection that verifies the server against
 *      the pinned CA like any mTLS call would.
 *   4. The identity directory is written: key.pem 0600, cert.pem, ca.pem (DIR 0700).
 */
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { WardError } from '../errors.ts';
import { createCsr } from '../pki/csr.ts';
import { checkFingerprint, identityFromCertificate, verifyCertificate } from '../pki/identity.ts';
import { IDENTITY_FILES, writeIdentityDir } from '../pki/identity-dir.ts';
import { generateKeyPair } from '../pki/keys.ts';
import { normaliseFingerprint } from '../pki/pem.ts';
import { classifyNetworkError, errorFromResponse, parseServerUrl, type ServerAddress } from './http.ts';

const MAX_ANSWER_BYTES = 64 * 1024;

export interface EnrolOptions {
  /** The enrolment listener, `https://HOST:PORT`. */
  server: string;
  /** The one-time token (secret). */
  token: string;
  /** `sha256:<hex>` of the deployment CA certificate, as `ward init` printed it. */
  caFingerprint: string;
  /** Identity directory to write. */
  out: string;
  /** Instance name in the SPIFFE ID; default: chosen by the server at random. */
  name?: string;
  timeoutMs?: number;
}

export interface Enrolled {
  dir: string;
  spiffeId: string;
  serial: string;
  notAfter: Date;
}

interface Answer {
  status: number;
  body: Buffer;
  peer: X509Certificate | undefined;
}

function call(server: ServerAddress, method: string, path: string, tls: { ca?: string }, payload: Buffer | undefined, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { accept: 'application/json', 'user-agent': 'ward-enroll' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    const req = httpsRequest({
      host: server.host,
      port: server.port,
      servername: server.servername,
      method,
      path: server.basePath + path,
      headers,
      agent: false,
      minVersion: 'TLSv1.3',
      // first contact: nothing to verify against yet; the caller checks the pinned CA instead
      ...(tls.ca ? { ca: tls.ca, rejectUnauthorized: true } : { rejectUnauthorized: false }),
    });
    let peer: X509Certificate | undefined;
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
    req.on('socket', (s) => s.once('secureConnect', () => {
      peer = (s as TLSSocket).getPeerX509Certificate();
    }));
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(classifyNetworkError(e, server.url));
    });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(new WardError('ERR_API_BAD_RESPONSE', `answer from ${server.url} is too large`));
        else chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), peer });
      });
    });
    req.end(payload);
  });
}

function json<T>(a: Answer, server: ServerAddress): T {
  if (a.status < 200 || a.status > 299) throw errorFromResponse(a.status, a.body, server.url);
  try {
    return JSON.parse(a.body.toString('utf8')) as T;
  } catch (e) {
    throw new WardError('ERR_API_BAD_RESPONSE', `answer from ${server.url} is not JSON`, { cause: e });
  }
}

function mismatch(message: string, cause?: unknown): WardError {
  return new WardError('ERR_ENROLL_CA_MISMATCH', message, {
    ...(cause === undefined ? {} : { cause }),
    hint: 'check --ca-fingerprint against the value ward init printed, and the --server URL; the token was not sent',
  });
}

/**
 * Fetches the deployment CA from the enrolment listener and checks it against the pin, and the
 * listener's own certificate against that CA and the host name.
 * @throws WardError ERR_ENROLL_CA_MISMATCH, ERR_USAGE (bad pin or URL), ERR_API_UNAVAILABLE, ERR_TLS_*
 */
export async function fetchPinnedCa(serverUrl: string, caFingerprint: string, timeoutMs = 30_000): Promise<string> {
  const pin = normaliseFingerprint(caFingerprint);
  const server = parseServerUrl(serverUrl);
  const a = await call(server, 'GET', '/v1/enroll/ca', {}, undefined, timeoutMs);
  const { ca } = json<{ ca?: unknown }>(a, server);
  if (typeof ca !== 'string') throw new WardError('ERR_API_BAD_RESPONSE', `${server.url} sent no CA certificate`);
  try {
    checkFingerprint(ca, pin);
  } catch (e) {
    throw mismatch(`the CA of ${server.url} does not match the pinned fingerprint`, e);
  }
  if (!a.peer) throw mismatch(`${server.url} presented no certificate`);
  try {
    verifyCertificate(a.peer, ca);
  } catch (e) {
    throw mismatch(`the certificate of ${server.url} does not chain to the pinned CA`, e);
  }
  const named = isIP(server.host) ? a.peer.checkIP(server.host) : a.peer.checkHost(server.host);
  if (named === undefined) throw mismatch(`the certificate of ${server.url} does not name ${server.host}`);
  return ca;
}

/**
 * Enrols: pins the CA, generates a key, exchanges the token and a CSR for a certificate, and
 * writes the identity directory.
 * @throws WardError ERR_EXISTS (an identity is already in `out`), ERR_ENROLL_CA_MISMATCH,
 *   ERR_TOKEN_INVALID, ERR_API_RATE_LIMITED, ERR_API_UNAVAILABLE, ERR_TLS_*, ERR_IO
 */
export async function enrol(o: EnrolOptions): Promise<Enrolled> {
  for (const f of [IDENTITY_FILES.key, IDENTITY_FILES.cert]) {
    if (existsSync(join(o.out, f))) throw new WardError('ERR_EXISTS', `${join(o.out, f)} already exists`, { hint: 'enrol into an empty directory' });
  }
  const timeoutMs = o.timeoutMs ?? 30_000;
  const ca = await fetchPinnedCa(o.server, o.caFingerprint, timeoutMs);
  const server = parseServerUrl(o.server);
  const keys = generateKeyPair();
  const csr = await createCsr({ privateKeyPem: keys.privateKeyPem });
  const payload = Buffer.from(JSON.stringify({ token: o.token, csr, ...(o.name === undefined ? {} : { name: o.name }) }));
  let answer: { certificate: string; ca: string };
  try {
    answer = json(await call(server, 'POST', '/v1/enroll', { ca }, payload, timeoutMs), server);
  } finally {
    payload.fill(0);
  }
  const cert = verifyCertificate(answer.certificate, ca);
  if (!cert.checkPrivateKey(createPrivateKey(keys.privateKeyPem))) {
    throw new WardError('ERR_API_BAD_RESPONSE', 'the issued certificate is not for the key generated here');
  }
  const id = identityFromCertificate(cert);
  writeIdentityDir(o.out, { keyPem: keys.privateKeyPem, certPem: answer.certificate, caPem: ca });
  return { dir: o.out, spiffeId: id.spiffeId, serial: id.serial, notAfter: id.notAfter };
}
