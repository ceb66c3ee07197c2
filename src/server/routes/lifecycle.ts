/**
 * Workload identity lifecycle on the mTLS API (docs/enrol.md):
 *
 *   POST /v1/tokens  (admin)  {app, env, ttl?, cidrs?} -> {token, app, env, expiresAt}: a one-time
 *                             enrolment token, shown once; only its SHA-256 is stored
 *   POST /v1/renew   (any)    {csr} -> a new certificate for the caller's own SPIFFE ID
 *
 * Renewal needs the caller's certificate to be valid and not revoked (the identity hook refuses
 * revoked and expired ones before any route runs) and to be a workload certificate this deployment
 * recorded; the new certificate keeps the SPIFFE ID and lives `[pki] workload_ttl`.
 */
import type { FastifyInstance } from 'fastify';
import { WardError } from '../../errors.ts';
import * as s from '../schemas.ts';
import { checkCidrs, DEFAULT_TOKEN_TTL_MS, hashToken, MAX_TOKEN_CIDRS, MAX_TOKEN_TTL_MS, newToken } from '../tokens.ts';
import { DEFAULT_WORKLOAD_TTL_MS, issueWorkload } from '../workload-certs.ts';

const tokenBody = {
  type: 'object',
  additionalProperties: false,
  required: ['app', 'env'],
  properties: {
    app: { type: 'string', pattern: s.SEGMENT_PATTERN },
    env: { type: 'string', pattern: s.SEGMENT_PATTERN },
    ttl: { type: 'integer', minimum: 60, maximum: MAX_TOKEN_TTL_MS / 1000, description: 'lifetime in seconds (default 900)' },
    cidrs: { type: 'array', maxItems: MAX_TOKEN_CIDRS, items: { type: 'string', maxLength: 64 }, description: 'source addresses allowed to redeem it (CIDR or IP); empty: any' },
  },
} as const;

const tokenAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['token', 'app', 'env', 'expiresAt'],
  properties: { token: { type: 'string' }, app: { type: 'string' }, env: { type: 'string' }, expiresAt: { type: 'integer' } },
} as const;

const renewBody = {
  type: 'object',
  additionalProperties: false,
  required: ['csr'],
  properties: { csr: { type: 'string', minLength: 1, maxLength: 8192, description: 'PEM PKCS#10 request (P-256) with no SAN or exactly the caller\'s SPIFFE ID' } },
} as const;

export const renewAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['certificate', 'ca', 'serial', 'spiffeId', 'notAfter'],
  properties: { certificate: { type: 'string' }, ca: { type: 'string' }, serial: { type: 'string' }, spiffeId: { type: 'string' }, notAfter: { type: 'integer' } },
} as const;

export async function lifecycleRoutes(app: FastifyInstance, opts: { workloadTtlMs?: number }): Promise<void> {
  const ctx = app.ward;
  const ttlMs = opts.workloadTtlMs ?? DEFAULT_WORKLOAD_TTL_MS;

  app.post('/tokens', {
    schema: { summary: 'Create a one-time enrolment token', body: tokenBody, response: { 200: tokenAnswer, ...s.errorResponses } },
    config: { ward: { action: 'token.create', op: 'admin', resource: (req) => `tokens/${(req.body as { app: string }).app}/${(req.body as { env: string }).env}` } },
    handler: async (req) => {
      const body = req.body as { app: string; env: string; ttl?: number; cidrs?: string[] };
      const cidrs = checkCidrs(body.cidrs ?? []);
      const token = newToken();
      const hash = hashToken(token);
      const now = ctx.now();
      const expiresAt = now + (body.ttl === undefined ? DEFAULT_TOKEN_TTL_MS : body.ttl * 1000);
      await ctx.store.putToken({ hash, app: body.app, env: body.env, cidrs, expiresAt, createdAt: now, createdBy: ctx.principal(req).spiffeId, usedAt: null });
      await ctx.audit(req, 'granted', `token=${hash.slice(0, 16)} expires=${expiresAt}${cidrs.length ? ` cidrs=${cidrs.join(',')}` : ''}`);
      return { token, app: body.app, env: body.env, expiresAt };
    },
  });

  app.post('/renew', {
    schema: { summary: 'Renew the caller\'s own workload certificate', body: renewBody, response: { 200: renewAnswer, ...s.errorResponses } },
    config: { ward: { action: 'cert.renew', op: null, resource: (req) => `certs/${req.caller?.serial ?? '-'}` } },
    handler: async (req) => {
      const caller = ctx.principal(req);
      if (caller.role !== 'workload') throw new WardError('ERR_ENROLL_RENEW_REFUSED', 'only workload certificates are renewed', { hint: 'issue admin certificates with ward cert issue --role admin' });
      const record = await ctx.store.getCertificate(req.caller!.serial);
      if (!record || record.serial !== req.caller!.serial || record.spiffeId !== caller.spiffeId) {
        throw new WardError('ERR_ENROLL_RENEW_REFUSED', 'this certificate is not on record: it cannot be renewed');
      }
      if (record.revokedAt !== null) throw new WardError('ERR_ENROLL_RENEW_REFUSED', 'this certificate has been revoked');
      const { csr } = req.body as { csr: string };
      const issued = await issueWorkload({ store: ctx.store, ca: ctx.ca, spiffeId: caller.spiffeId, csr, ttlMs, now: ctx.now() });
      await ctx.audit(req, 'granted', `serial=${issued.serial} replaces=${record.serial}`);
      return issued;
    },
  });
}
