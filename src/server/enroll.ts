/**
 * The enrolment listener (`[server] enroll_listen`, off unless configured): the only Ward port a
 * client reaches without a client certificate, so it is a separate fastify instance on its own
 * socket holding nothing but the two enrolment routes (docs/enrol.md):
 *
 *   GET  /v1/enroll/ca   the deployment CA certificate, which the client pins by fingerprint
 *   POST /v1/enroll      {token, csr, name?} -> a workload certificate for the token's APP/ENV
 *
 * TLS 1.3 with the server certificate, no client certificate asked for. Every request passes a
 * per-source token bucket (rate-limit.ts) before anything else, bodies are bounded (16 KiB) and
 * schema-checked, and every request is audited: `enroll` granted with the serial, or denied with
 * the reason (unknown, reused, expired, out-of-cidr, bad-csr, rate-limited, ...). The caller learns
 * only ERR_TOKEN_INVALID, whatever the reason.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { WardError, isWardError, type WardErrorCode } from '../errors.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import { verifyCsr } from '../pki/csr.ts';
import { formatSpiffeId } from '../pki/spiffe.ts';
import type { Store } from '../store/types.ts';
import { supportedCurves } from './app.ts';
import { createAuditor, type AuditSink } from './audit.ts';
import { normaliseAddress } from './authz.ts';
import { createRateLimiter, type RateLimitOptions } from './rate-limit.ts';
import { SEGMENT_PATTERN, errorBody, errorResponses } from './schemas.ts';
import { checkToken, consumeToken, hashToken, TokenRefused, TOKEN_PATTERN } from './tokens.ts';
import { DEFAULT_WORKLOAD_TTL_MS, issueWorkload } from './workload-certs.ts';

export const ENROLL_BODY_LIMIT = 16 * 1024;

export interface EnrollServerOptions {
  store: Store;
  auditStore?: AuditSink;
  /** The server certificate and key (PEM); the client CA is not needed here. */
  tls: { cert: string; key: string };
  ca: CertificateAuthority | null;
  trustDomain: string;
  workloadTtlMs?: number;
  rateLimit?: RateLimitOptions;
  logLevel?: string;
  now?: () => number;
}

const enrollBody = {
  type: 'object',
  additionalProperties: false,
  required: ['token', 'csr'],
  properties: {
    token: { type: 'string', pattern: TOKEN_PATTERN },
    csr: { type: 'string', minLength: 1, maxLength: 8192, description: 'PEM PKCS#10 request for a P-256 key, with no SAN or exactly the SPIFFE ID granted' },
    name: { type: 'string', pattern: SEGMENT_PATTERN, description: 'instance name (default: random)' },
  },
} as const;

const enrollAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['certificate', 'ca', 'serial', 'spiffeId', 'notAfter'],
  properties: { certificate: { type: 'string' }, ca: { type: 'string' }, serial: { type: 'string' }, spiffeId: { type: 'string' }, notAfter: { type: 'integer' } },
} as const;

const caAnswer = { type: 'object', additionalProperties: false, required: ['ca'], properties: { ca: { type: 'string' } } } as const;

/** The audit detail of a refusal: the token's reason, or the error code. */
function reasonOf(e: unknown): string {
  if (e instanceof TokenRefused) return e.reason;
  if (isWardError(e)) return e.code === 'ERR_PKI_INVALID_CSR' || e.code === 'ERR_PKI_TOO_LARGE' ? `bad-csr ${e.code}` : e.code;
  const v = e as { validation?: unknown; statusCode?: number };
  if (v.validation) return 'bad-request';
  if (v.statusCode === 413) return 'too-large';
  return 'error';
}

function answerOf(e: unknown): { code: WardErrorCode; message: string } {
  if (isWardError(e)) return { code: e.code, message: e.message };
  const v = e as { validation?: { instancePath?: string; message?: string }[]; statusCode?: number; code?: string };
  if (v.validation) {
    const first = v.validation[0];
    // the token's own value never appears in the message (schema messages do not quote values)
    return { code: 'ERR_API_BAD_REQUEST', message: `invalid body${first?.instancePath ?? ''}: ${first?.message ?? 'does not match the schema'}` };
  }
  if (v.statusCode === 413 || v.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { code: 'ERR_API_TOO_LARGE', message: 'request body too large' };
  if (typeof v.statusCode === 'number' && v.statusCode >= 400 && v.statusCode < 500) return { code: 'ERR_API_BAD_REQUEST', message: 'malformed request' };
  return { code: 'ERR_INTERNAL', message: 'internal error' };
}

/** Builds the enrolment server; main.ts listens on it. */
export async function buildEnrollServer(o: EnrollServerOptions): Promise<FastifyInstance> {
  const now = o.now ?? Date.now;
  const ttlMs = o.workloadTtlMs ?? DEFAULT_WORKLOAD_TTL_MS;
  const app = Fastify({
    https: { cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', requestCert: false, ecdhCurve: supportedCurves() },
    logger: { level: o.logLevel ?? 'warn' },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: ENROLL_BODY_LIMIT,
    requestTimeout: 10_000,
    connectionTimeout: 10_000,
    keepAliveTimeout: 5_000,
    forceCloseConnections: true,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });
  app.addSchema(errorBody);
  const auditor = createAuditor(o.auditStore ?? o.store, { onError: (e) => app.log.error({ err: e }, 'audit append failed') });
  const limiter = createRateLimiter(o.rateLimit);
  const source = (req: FastifyRequest) => normaliseAddress(req.socket.remoteAddress ?? '-');
  const audited = new WeakSet<FastifyRequest>();
  const audit = (req: FastifyRequest, outcome: string, detail: string, who: { spiffeId?: string; serial?: string; path?: string } = {}) => {
    if (audited.has(req)) return Promise.resolve();
    audited.add(req);
    return auditor.record({
      time: now(),
      identity: who.spiffeId ?? '-',
      serial: who.serial ?? '-',
      source: source(req),
      operation: req.routeOptions.url === '/v1/enroll/ca' ? 'enroll.ca' : 'enroll',
      path: who.path ?? (req.url.split('?')[0] ?? '').slice(0, 128).replace(/[^\x21-\x7e]/g, '?'),
      outcome,
      detail,
    });
  };

  app.addHook('onRequest', (req, _reply, done) => {
    done(limiter.take(source(req)) ? undefined : new WardError('ERR_API_RATE_LIMITED', 'too many enrolment requests from this address', { hint: 'wait a minute and retry' }));
  });
  app.setNotFoundHandler(async () => {
    throw new WardError('ERR_API_NOT_FOUND', 'no such route (this listener serves enrolment only)');
  });
  app.setErrorHandler(async (error, req, reply) => {
    const { code, message } = answerOf(error);
    if (code === 'ERR_INTERNAL') req.log.error({ err: error }, 'internal error');
    try {
      await audit(req, code === 'ERR_API_NOT_FOUND' ? 'not-found' : 'denied', reasonOf(error));
    } catch {
      // already failing; the auditor logged it
    }
    return reply.code(new WardError(code, message).status).type('application/json').send({ error: { code, message } });
  });

  app.get('/v1/enroll/ca', {
    schema: { summary: 'The deployment CA certificate (pin it by fingerprint)', response: { 200: caAnswer, ...errorResponses } },
    handler: async (req) => {
      if (!o.ca) throw new WardError('ERR_ENROLL_DISABLED', 'this server does not hold the CA key');
      await audit(req, 'granted', 'ca');
      return { ca: o.ca.certPem };
    },
  });

  app.post('/v1/enroll', {
    schema: { summary: 'Exchange a one-time token and a CSR for a workload certificate', body: enrollBody, response: { 200: enrollAnswer, ...errorResponses } },
    handler: async (req) => {
      const body = req.body as { token: string; csr: string; name?: string };
      const path = `tokens/${hashToken(body.token).slice(0, 16)}`;
      const t = now();
      const instance = body.name ?? randomBytes(6).toString('hex');
      let issuedId: string | undefined;
      try {
        if (!o.ca) throw new WardError('ERR_ENROLL_DISABLED', 'this server does not hold the CA key');
        const found = await checkToken(o.store, body.token, source(req), t);
        // app/env come from the stored token: looked up (findToken) or, without it, once consumed
        const record = found.app ? found : await consumeToken(o.store, body.token, source(req), t);
        issuedId = formatSpiffeId({ trustDomain: o.trustDomain, kind: 'workload', app: record.app, env: record.env, instance });
        if (found.app) {
          // the CSR is checked before the token is spent, so a client with a bad CSR can retry
          await verifyCsr(body.csr, { spiffeId: issuedId });
          await consumeToken(o.store, body.token, source(req), t);
        }
        const issued = await issueWorkload({ store: o.store, ca: o.ca, spiffeId: issuedId, csr: body.csr, ttlMs, now: t });
        await audit(req, 'granted', `serial=${issued.serial}`, { spiffeId: issued.spiffeId, serial: issued.serial, path });
        return issued;
      } catch (e) {
        await audit(req, 'denied', reasonOf(e), { ...(issuedId ? { spiffeId: issuedId } : {}), path }).catch(() => undefined);
        throw e;
      }
    },
  });

  app.addHook('onClose', async () => {
    await auditor.close();
  });
  return app;
}
