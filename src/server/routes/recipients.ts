/**
 * Zero-knowledge and GitOps routes (docs/api.md, docs/sealed.md):
 *
 *   GET    /v1/recipients/{app}/{env}   the public keys sealed secrets of APP/ENV are encrypted to
 *   PUT    /v1/recipients/{app}/{env}   register one (validated: age1…, or one OpenPGP public key)
 *   DELETE /v1/recipients/{app}/{env}   remove one by id
 *   GET    /v1/server/recipient         the server's own age recipient
 *   POST   /v1/import                   store the values of a file sealed to the server
 *
 * Recipients are public keys, yet who may change them decides who can read future sealed values:
 * adding and removing needs `admin` on APP/ENV/*, listing needs `list`. An import needs `write` on
 * every secret it stores, checked for all of them before the first is written.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WardError } from '../../errors.ts';
import { parseSealRecipient } from '../../formats/sealed/index.ts';
import type { ValueFileFormat } from '../../formats/valuefile/index.ts';
import { sourceAddress } from '../identity.ts';
import { openImport, storeImport } from '../import.ts';
import * as s from '../schemas.ts';

type EnvParams = { app: string; env: string };

/** Longest recipient: an armored OpenPGP public key with a few subkeys and signatures. */
const MAX_RECIPIENT_CHARS = 32 * 1024;
/** Longest import file (the text of an encrypted .env/TOML/YAML/JSON file). */
export const MAX_IMPORT_CHARS = 1024 * 1024;

const segment = { type: 'string', pattern: s.SEGMENT_PATTERN } as const;
const recipientId = { type: 'string', minLength: 1, maxLength: 4096, description: 'the age1… recipient, or pgp:<fingerprint>' } as const;
const recipientItem = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'kind', 'key', 'createdAt', 'createdBy'],
  properties: {
    id: recipientId,
    kind: { type: 'string', enum: ['age', 'pgp'] },
    key: { type: 'string', description: 'the age1… recipient, or the ASCII-armored OpenPGP public key' },
    createdAt: { type: 'integer', minimum: 0 },
    createdBy: { type: 'string' },
  },
} as const;
const addBody = {
  type: 'object',
  additionalProperties: false,
  required: ['recipient'],
  properties: { recipient: { type: 'string', minLength: 1, maxLength: MAX_RECIPIENT_CHARS, description: 'an age1… recipient or an ASCII-armored OpenPGP public key' } },
} as const;
const removeBody = { type: 'object', additionalProperties: false, required: ['id'], properties: { id: recipientId } } as const;
const importBody = {
  type: 'object',
  additionalProperties: false,
  required: ['format', 'content'],
  properties: {
    format: { type: 'string', enum: ['env', 'toml', 'yaml', 'json'] },
    content: { type: 'string', minLength: 1, maxLength: MAX_IMPORT_CHARS, description: 'the encrypted file, as text' },
    app: segment,
    env: segment,
  },
} as const;
const importAnswer = s.obj1('imported', {
  type: 'object',
  additionalProperties: false,
  required: ['written', 'unchanged', 'envs'],
  properties: { written: { type: 'integer', minimum: 0 }, unchanged: { type: 'integer', minimum: 0 }, envs: { type: 'array', items: { type: 'string' } } },
});

const scope = (req: FastifyRequest) => {
  const p = req.params as EnvParams;
  return `${p.app}/${p.env}/*`;
};

export async function recipientRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.ward;
  const identity = ctx.serverIdentity;
  // generated on the first start that holds the master key; a sealed server makes it later
  await identity.recipient().catch((e: unknown) => app.log.warn({ code: e instanceof WardError ? e.code : undefined }, 'server identity not available yet'));

  app.get('/recipients/:app/:env', {
    schema: { summary: 'Recipients of sealed secrets of APP/ENV', params: s.envParams, response: { 200: s.obj1('recipients', { type: 'array', items: recipientItem }), ...s.errorResponses } },
    config: { ward: { action: 'recipient.list', op: 'list', resource: scope } },
    handler: async (req) => {
      const { app: a, env } = req.params as EnvParams;
      const recipients = (await ctx.store.listRecipients(a, env)).map(({ app: _a, env: _e, ...r }) => r);
      await ctx.audit(req, 'granted', `recipients=${recipients.length}`);
      return { recipients };
    },
  });

  app.put('/recipients/:app/:env', {
    schema: {
      summary: 'Register a recipient (age1… or an OpenPGP public key) of APP/ENV',
      params: s.envParams,
      body: addBody,
      response: { 200: { type: 'object', additionalProperties: false, required: ['id', 'kind', 'added'], properties: { id: recipientId, kind: { type: 'string' }, added: { type: 'boolean' } } }, ...s.errorResponses },
    },
    config: { ward: { action: 'recipient.add', op: 'admin', resource: scope } },
    handler: async (req) => {
      const { app: a, env } = req.params as EnvParams;
      const { recipient } = req.body as { recipient: string };
      let parsed;
      try {
        parsed = await parseSealRecipient(Buffer.from(recipient, 'utf8'), 'recipient');
      } catch (e) {
        throw new WardError('ERR_API_BAD_REQUEST', e instanceof WardError ? e.message : 'invalid recipient');
      }
      const added = await ctx.store.addRecipient({ app: a, env, ...parsed, createdAt: ctx.now(), createdBy: ctx.principal(req).spiffeId });
      await ctx.audit(req, 'granted', `${added ? 'added' : 'exists'} ${parsed.id.slice(0, 200)}`);
      return { id: parsed.id, kind: parsed.kind, added };
    },
  });

  app.delete('/recipients/:app/:env', {
    schema: { summary: 'Remove a recipient of APP/ENV by id', params: s.envParams, body: removeBody, response: { 200: s.flagAnswer('removed'), ...s.errorResponses } },
    config: { ward: { action: 'recipient.remove', op: 'admin', resource: scope } },
    handler: async (req) => {
      const { app: a, env } = req.params as EnvParams;
      const { id } = req.body as { id: string };
      if (!(await ctx.store.removeRecipient(a, env, id))) throw new WardError('ERR_API_NOT_FOUND', `${a}/${env} has no recipient ${id.slice(0, 200)}`);
      await ctx.audit(req, 'granted', id.slice(0, 200));
      return { removed: true };
    },
  });

  app.get('/server/recipient', {
    schema: { summary: 'The server\'s own age recipient (encrypt config for ward secret import to it)', response: { 200: s.obj1('recipient', { type: 'string' }), ...s.errorResponses } },
    config: { ward: { action: 'server.recipient', op: null, resource: () => 'server/recipient' } },
    handler: async (req) => {
      const recipient = await identity.recipient();
      await ctx.audit(req, 'granted');
      return { recipient };
    },
  });

  app.post('/import', {
    bodyLimit: MAX_IMPORT_CHARS + 4096,
    schema: { summary: 'Store the values of a config file encrypted to the server\'s recipient', body: importBody, response: { 200: importAnswer, ...s.errorResponses } },
    config: {
      ward: {
        action: 'secret.import',
        // checked per value in the handler: the file names the secrets
        op: null,
        resource: (req) => {
          const b = req.body as { app?: string; env?: string } | undefined;
          return b?.app !== undefined && b.env !== undefined ? `${b.app}/${b.env}/*` : 'import';
        },
      },
    },
    handler: async (req) => {
      const body = req.body as { format: ValueFileFormat; content: string; app?: string; env?: string };
      if ((body.app === undefined) !== (body.env === undefined)) throw new WardError('ERR_API_BAD_REQUEST', 'give both app and env, or neither');
      const target = body.app !== undefined && body.env !== undefined ? { app: body.app, env: body.env } : undefined;
      const values = await openImport(body.content, body.format, await identity.identity(), target);
      const principal = ctx.principal(req);
      const source = sourceAddress(req);
      const authz = ctx.authz();
      const refused = values.find((v) => authz.decide(principal, 'write', `${v.ref.app}/${v.ref.env}/${v.ref.name}`, source).decision === 'deny');
      if (refused) {
        for (const v of values) v.value.fill(0);
        throw new WardError('ERR_API_DENIED', `not authorized: writing ${refused.ref.app}/${refused.ref.env}/${refused.ref.name}; nothing was imported`);
      }
      const imported = await storeImport(ctx, values, principal.spiffeId);
      await ctx.audit(req, 'granted', `written=${imported.written} unchanged=${imported.unchanged} envs=${imported.envs.join(',')}`.slice(0, 512));
      return { imported };
    },
  });
}
