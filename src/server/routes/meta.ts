/** whoami and the OpenAPI document: any authenticated caller. */
import type { FastifyInstance } from 'fastify';
import * as s from '../schemas.ts';

export async function metaRoutes(app: FastifyInstance, opts: { openapi: () => string }): Promise<void> {
  const ctx = app.ward;

  app.get('/whoami', {
    schema: { summary: 'The caller\'s identity as the server sees it', response: { 200: s.whoamiAnswer, ...s.errorResponses } },
    config: { ward: { action: 'whoami', op: null, resource: () => 'whoami' } },
    handler: async (req) => {
      const c = ctx.principal(req);
      const serial = req.caller!.serial;
      await ctx.audit(req, 'granted');
      return c.role === 'admin' ? { spiffeId: c.spiffeId, role: c.role, serial } : { spiffeId: c.spiffeId, role: c.role, app: c.app, env: c.env, serial };
    },
  });

  app.get('/openapi.json', {
    schema: { summary: 'This document (OpenAPI 3.1)', response: { 200: { type: 'object', description: 'the OpenAPI document' }, ...s.errorResponses } },
    config: { ward: { action: 'openapi.read', op: null, resource: () => 'openapi' } },
    handler: async (req, reply) => {
      await ctx.audit(req, 'granted');
      return reply.type('application/json; charset=utf-8').send(opts.openapi());
    },
  });
}
