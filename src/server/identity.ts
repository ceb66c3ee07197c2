/**
 * The verified caller of each request. node:tls has already checked the client certificate's
 * chain to the deployment CA and its validity period during the handshake (requestCert,
 * rejectUnauthorized); here the certificate becomes a Ward identity — once per TLS connection,
 * cached in a WeakMap on the socket, since parsing a certificate per request would cost more than
 * the request itself.
 *
 * Refused, with ERR_API_UNAUTHENTICATED (401) and the connection closed: no certificate, a
 * certificate that is not a Ward client certificate (a server certificate, an unknown role or
 * SPIFFE ID shape, another trust domain), a revoked serial, a certificate that expired while its
 * connection stayed open. A revoked certificate is also refused right after the handshake (the
 * socket is destroyed before any request is read), so revocation takes effect without a restart.
 */
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WardError } from '../errors.ts';
import { identityFromCertificate } from '../pki/identity.ts';
import { normaliseAddress } from './authz.ts';

export interface CallerIdentity {
  spiffeId: string;
  role: 'admin' | 'workload';
  /** Workload's APP and ENV; empty for admins. */
  app: string;
  env: string;
  /** Lowercase hex serial of the client certificate. */
  serial: string;
  notAfter: number;
}

type Verdict = CallerIdentity | WardError;

/** Per-connection cache: a TLS socket carries one client certificate for its whole life. */
const identities = new WeakMap<Socket, Verdict>();

/**
 * Identities by certificate (DER bytes and trust domain), across connections: a workload reconnects
 * with the same certificate, and reading one (SAN, serial, validity, key usage, SPIFFE ID) costs
 * ~100 µs against ~30 µs for its DER. Only accepted certificates are kept; the entries are frozen
 * because connections share them. Revocation and expiry are checked per request, never cached.
 */
const byCertificate = new Map<string, CallerIdentity>();
const MAX_CACHED_CERTIFICATES = 1024;

export interface IdentityOptions {
  trustDomain: string;
  /** Serials of revoked certificates, kept current by the revoke route. */
  revoked: ReadonlySet<string>;
  now?: () => number;
}

function unauthenticated(message: string, cause?: unknown): WardError {
  return new WardError('ERR_API_UNAUTHENTICATED', message, cause === undefined ? {} : { cause });
}

function readIdentity(peer: X509Certificate, trustDomain: string): Verdict {
  try {
    const id = identityFromCertificate(peer, { trustDomain });
    return Object.freeze({
      spiffeId: id.spiffeId,
      role: id.role,
      app: id.app ?? '',
      env: id.env ?? '',
      serial: id.serial,
      notAfter: id.notAfter.getTime(),
    });
  } catch (e) {
    return unauthenticated(e instanceof WardError ? e.message : 'client certificate is not a Ward identity', e);
  }
}

/** Reads and caches the identity of a TLS connection. */
export function connectionIdentity(socket: Socket, trustDomain: string): Verdict {
  const cached = identities.get(socket);
  if (cached) return cached;
  let verdict: Verdict;
  const tls = socket as TLSSocket;
  // getPeerX509Certificate, not getPeerCertificate: the latter materialises every field (three
  // fingerprints, subject, issuer, public key) and costs ~5-10x more per connection.
  const peer = typeof tls.getPeerX509Certificate === 'function' && tls.authorized ? tls.getPeerX509Certificate() : undefined;
  if (!peer) {
    verdict = unauthenticated('a verified client certificate is required');
  } else {
    const key = `${trustDomain}\n${peer.raw.toString('latin1')}`;
    const known = byCertificate.get(key);
    if (known) {
      verdict = known;
    } else {
      verdict = readIdentity(peer, trustDomain);
      if (!(verdict instanceof WardError)) {
        if (byCertificate.size >= MAX_CACHED_CERTIFICATES) byCertificate.delete(byCertificate.keys().next().value!);
        byCertificate.set(key, verdict);
      }
    }
  }
  identities.set(socket, verdict);
  return verdict;
}

const sources = new WeakMap<Socket, string>();

/** The source address of a request's connection, IPv4-mapped IPv6 normalised (cached per socket). */
export function sourceAddress(req: FastifyRequest): string {
  let source = sources.get(req.socket);
  if (source === undefined) {
    source = normaliseAddress(req.socket.remoteAddress ?? '-');
    sources.set(req.socket, source);
  }
  return source;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller; null until the identity hook ran, or when it refused the request. */
    caller: CallerIdentity | null;
    /** The identity a refused (revoked, expired) certificate claims, for the audit record only. */
    presented: CallerIdentity | null;
  }
}

/**
 * Registers the identity hook on `app` (not encapsulated, so it covers every route, including the
 * 404 handler) and the post-handshake revocation check on its TLS server.
 */
export function identityPlugin(app: FastifyInstance, options: IdentityOptions): void {
  const now = options.now ?? Date.now;
  app.decorateRequest('caller', null);
  app.decorateRequest('presented', null);
  app.server.on('secureConnection', (socket: TLSSocket) => {
    const verdict = connectionIdentity(socket, options.trustDomain);
    if (!(verdict instanceof WardError) && options.revoked.has(verdict.serial)) socket.destroy();
  });
  // Callback style (not async): this hook runs on every request, and a promise per hook shows.
  app.addHook('onRequest', (req, reply, done) => {
    const verdict = connectionIdentity(req.socket, options.trustDomain);
    let refusal: WardError | null = null;
    if (verdict instanceof WardError) refusal = verdict;
    else if (options.revoked.has(verdict.serial)) refusal = unauthenticated('client certificate has been revoked');
    else if (verdict.notAfter < now()) refusal = unauthenticated('client certificate has expired');
    if (refusal) {
      if (!(verdict instanceof WardError)) req.presented = verdict;
      // Nothing more is accepted on this connection.
      reply.header('connection', 'close');
      done(refusal);
      return;
    }
    req.caller = verdict as CallerIdentity;
    done();
  });
}
