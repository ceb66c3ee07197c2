/**
 * Admin routes (docs/api.md): policies, certificates, the audit log. All require the `admin`
 * operation, which the admin role has and a policy may grant.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WardError } from '../../errors.ts';
import { issueCertificate } from '../../pki/issue.ts';
import { normaliseSerial } from '../../pki/pem.ts';
import { parseSpiffeId } from '../../pki/spiffe.ts';
import { readAllAudit, verifyAuditChain } from '../../store/audit-chain.ts';
import type { CertificateRecord } from '../../store/types.ts';
import { AUDIT_READ } from '../audit.ts';
import { checkPolicy, type Operation, type Principal } from '../authz.ts';
import * as s from '../schemas.ts';

const fixed = (path: string) => () => path;
const named = (prefix: string, key: string) => (req: FastifyRequest) => `${prefix}/${(req.params as Record<string, string>)[key]}`;

export async function adminRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.ward;

  app.get('/policies', {
    schema: { summary: 'List policies', response: { 200: s.policiesAnswer, ...s.errorResponses } },
    config: { ward: { action: 'policy.list', op: 'admin', resource: fixed('policies') } },
    handler: async (req) => {
      const policies = (await ctx.store.listPolicies()).map((p) => ({ ...p, document: JSON.parse(p.document) as unknown }));
      await ctx.audit(req, 'granted', `policies=${policies.length}`);
      return { policies };
    },
  });

  app.put('/policies/:name', {
    schema: { summary: 'Create or replace a policy', params: s.policyName, body: s.policyBody, response: { 200: s.nameAnswer, ...s.errorResponses } },
    config: { ward: { action: 'policy.set', op: 'admin', resource: named('policies', 'name') } },
    handler: async (req) => {
      const { name } = req.params as { name: string };
      const { document } = req.body as { document: unknown };
      try {
        checkPolicy(name, document);
      } catch (e) {
        throw new WardError('ERR_API_BAD_REQUEST', `invalid policy: ${(e as Error).message}`);
      }
      await ctx.store.putPolicy({ name, document: JSON.stringify(document), updatedAt: ctx.now(), updatedBy: ctx.principal(req).spiffeId });
      await ctx.reloadPolicies();
      ctx.envCache.clear();
      await ctx.audit(req, 'granted');
      return { name };
    },
  });

  app.delete('/policies/:name', {
    schema: { summary: 'Delete a policy', params: s.policyName, response: { 200: s.flagAnswer('deleted'), ...s.errorResponses } },
    config: { ward: { action: 'policy.delete', op: 'admin', resource: named('policies', 'name') } },
    handler: async (req) => {
      const { name } = req.params as { name: string };
      if (!(await ctx.store.deletePolicy(name))) throw new WardError('ERR_API_NOT_FOUND', `no policy named ${name}`);
      await ctx.reloadPolicies();
      await ctx.audit(req, 'granted');
      return { deleted: true };
    },
  });

  app.post('/policies/explain', {
    schema: { summary: 'Which rule decides an operation for an identity', body: s.explainBody, response: { 200: s.explainAnswer, ...s.errorResponses } },
    config: { ward: { action: 'policy.explain', op: 'admin', resource: fixed('policies') } },
    handler: async (req) => {
      const body = req.body as { spiffeId: string; path: string; operation: Operation; source?: string };
      let id;
      try {
        id = parseSpiffeId(body.spiffeId);
      } catch (e) {
        throw new WardError('ERR_API_BAD_REQUEST', e instanceof WardError ? e.message : 'invalid SPIFFE ID');
      }
      const principal: Principal = id.kind === 'admin'
        ? { spiffeId: body.spiffeId, role: 'admin', app: '', env: '' }
        : { spiffeId: body.spiffeId, role: 'workload', app: id.app, env: id.env };
      const decision = ctx.authz().decide(principal, body.operation, body.path, body.source);
      await ctx.audit(req, 'granted', `${body.operation} ${body.path} -> ${decision.decision} by ${decision.rule}`);
      return decision;
    },
  });

  app.post('/certs', {
    schema: { summary: 'Issue a client certificate from a CSR', body: s.issueBody, response: { 200: s.issueAnswer, ...s.errorResponses } },
    // the name is in the body (validated before authorization runs)
    config: { ward: { action: 'cert.issue', op: 'admin', resource: (req) => `certs/${String((req.body as { name?: unknown } | undefined)?.name ?? '')}` } },
    handler: async (req) => {
      const ca = ctx.ca;
      if (!ca) throw new WardError('ERR_API_UNAVAILABLE', 'this server does not hold the CA key', { hint: 'issue certificates with ward cert issue on the CA host' });
      const body = req.body as { name: string; app?: string; env?: string; role: 'workload' | 'admin'; ttl?: number; csr: string };
      if (body.role === 'workload' && (body.app === undefined || body.env === undefined)) {
        throw new WardError('ERR_API_BAD_REQUEST', 'a workload certificate needs app and env');
      }
      const issued = await issueCertificate({
        ca,
        role: body.role,
        name: body.name,
        csr: body.csr,
        ...(body.role === 'workload' ? { app: body.app, env: body.env } : {}),
        ...(body.ttl === undefined ? {} : { ttl: body.ttl * 1000 }),
        now: new Date(ctx.now()),
      });
      const record: CertificateRecord = {
        serial: issued.serial,
        name: body.name,
        spiffeId: issued.spiffeId ?? '',
        app: body.role === 'workload' ? body.app! : '',
        env: body.role === 'workload' ? body.env! : '',
        role: body.role,
        notBefore: issued.notBefore.getTime(),
        notAfter: issued.notAfter.getTime(),
        fingerprint: issued.fingerprint,
        issuedAt: ctx.now(),
        revokedAt: null,
      };
      await ctx.store.recordCertificate(record);
      await ctx.audit(req, 'granted', `serial=${issued.serial}`);
      return { certificate: issued.certPem, ca: ca.certPem, serial: issued.serial, spiffeId: record.spiffeId, notAfter: record.notAfter };
    },
  });

  app.get('/certs', {
    schema: {
      summary: 'List certificates, one page in issue order',
      querystring: s.certsQuery,
      response: { 200: s.certsAnswer, ...s.errorResponses },
    },
    config: { ward: { action: 'cert.list', op: 'admin', resource: fixed('certs') } },
    handler: async (req) => {
      const q = req.query as { cursor?: string; limit?: string };
      const page = await ctx.store.listCertificates({
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        ...(q.limit === undefined ? {} : { limit: Number(q.limit) }),
      });
      await ctx.audit(req, 'granted', `certificates=${page.items.length}`);
      return { certificates: page.items, next: page.next };
    },
  });

  app.post('/certs/:serialOrName/revoke', {
    schema: { summary: 'Revoke a certificate (takes effect at once)', params: s.certRef, response: { 200: s.obj1('revoked', s.certificateRecord), ...s.errorResponses } },
    config: { ward: { action: 'cert.revoke', op: 'admin', resource: named('certs', 'serialOrName') } },
    handler: async (req) => {
      const { serialOrName } = req.params as { serialOrName: string };
      let revoked = await ctx.store.revokeCertificate(serialOrName, ctx.now());
      if (!revoked && /^[0-9a-fA-F:]+$/.test(serialOrName)) revoked = await ctx.store.revokeCertificate(normaliseSerial(serialOrName), ctx.now());
      if (!revoked) throw new WardError('ERR_API_NOT_FOUND', `no certificate ${serialOrName}`);
      ctx.revoked.add(revoked.serial);
      await ctx.audit(req, 'granted', `serial=${revoked.serial}`);
      return { revoked };
    },
  });

  app.get('/audit', {
    schema: { summary: 'Audit records after a sequence number (long-poll with wait)', querystring: s.auditQuery, response: { 200: s.auditAnswer, ...s.errorResponses } },
    config: { ward: { action: AUDIT_READ, op: 'admin', resource: fixed('audit') } },
    handler: async (req, reply) => {
      const q = req.query as { after?: string; limit?: string; wait?: string };
      const after = Number(q.after ?? 0);
      const limit = Math.min(1000, Number(q.limit ?? 100));
      const wait = Number(q.wait ?? 0) * 1000;
      let records = await ctx.store.readAudit(after, limit);
      if (wait > 0 && records.every((r) => r.operation === AUDIT_READ)) {
        const abort = new AbortController();
        reply.raw.once('close', () => abort.abort());
        await ctx.auditor.waitForNewer(records.at(-1)?.seq ?? after, wait, abort.signal);
        records = await ctx.store.readAudit(after, limit);
      }
      await ctx.audit(req, 'granted', `records=${records.length}`);
      return { records: records.map((r) => (r.detail == null ? { ...r, detail: undefined } : r)) };
    },
  });

  app.get('/audit/verify', {
    schema: { summary: 'Verify the audit hash chain', response: { 200: s.verifyAnswer, ...s.errorResponses } },
    config: { ward: { action: 'audit.verify', op: 'admin', resource: fixed('audit') } },
    handler: async (req) => {
      const result = await verifyAuditChain(readAllAudit(ctx.store));
      await ctx.audit(req, 'granted', result.ok ? `ok count=${result.count}` : `bad at ${result.firstBad}: ${result.reason}`);
      const { last: _last, ...answer } = result;
      return answer;
    },
  });
}
