/**
 * Secret routes (docs/api.md): read, batch read, write, list, history, delete, undelete, destroy,
 * rollback. Authorization of the route's own resource happens in the protected context's hook
 * before these handlers run; handlers that return several items check each one again.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WardError } from '../../errors.ts';
import { encrypt as ageEncrypt, X25519Recipient } from '../../formats/age/index.ts';
import { E2E_CONTENT_TYPE, E2E_HEADER } from '../../formats/sealed/index.ts';
import type { SecretRef, SecretVersion } from '../../store/types.ts';
import type { EnvBatch, EnvItem } from '../env-cache.ts';
import { sourceAddress } from '../identity.ts';
import * as s from '../schemas.ts';
import type { ServerContext } from '../app.ts';

type Params = { app: string; env: string; name: string };

/**
 * End-to-end batch responses (`ward run --e2e`, docs/api.md): a request carrying this header with
 * an age X25519 recipient gets the batch JSON encrypted to it, as a binary age file of
 * {@link E2E_CONTENT_TYPE}, so a TLS-terminating proxy between client and server sees only
 * ciphertext.
 */
const e2eHeaders = {
  type: 'object',
  properties: {
    [E2E_HEADER]: { type: 'string', pattern: '^age1[02-9ac-hj-np-z]{58}$', description: 'end-to-end: an age X25519 recipient (ephemeral, made by the client); the 200 answer is then the batch JSON encrypted to it, as a binary age file with content type application/vnd.ward.e2e+age' },
  },
} as const;
type EnvParams = { app: string; env: string };

const secretPath = (req: FastifyRequest) => {
  const p = req.params as Params;
  return `${p.app}/${p.env}/${p.name}`;
};

/**
 * Base64 exactly as a standard encoder writes it; anything else (missing padding, stray bits) is
 * refused rather than guessed at.
 * @throws WardError ERR_API_BAD_REQUEST
 */
export function decodeValue(b64: string): Buffer {
  const value = Buffer.from(b64, 'base64');
  if (value.toString('base64') !== b64) throw new WardError('ERR_API_BAD_REQUEST', 'value must be canonical base64');
  return value;
}

/** Opens a stored version; a tampered or moved row is an integrity error, never other data. */
export async function openVersion(ctx: Pick<ServerContext, 'vault'>, row: SecretVersion): Promise<Buffer> {
  try {
    return await ctx.vault.open(row, row);
  } catch (e) {
    if (e instanceof WardError && (e.code === 'ERR_CRYPTO_AUTH' || e.code === 'ERR_CRYPTO_FORMAT')) {
      throw new WardError(e.code, `stored value of ${row.app}/${row.env}/${row.name} version ${row.version} failed its integrity check`, { cause: e });
    }
    throw e;
  }
}

/** Reads and decrypts every live secret of APP/ENV: what the env-batch cache loads on a miss. */
export async function loadEnvBatch(ctx: Pick<ServerContext, 'store' | 'vault'>, app: string, env: string): Promise<Omit<EnvBatch, 'json'>> {
  const revision = await ctx.store.envRevision(app, env);
  const rows = await ctx.store.getEnv(app, env);
  const secrets: EnvItem[] = [];
  for (const row of rows) {
    const plaintext = await openVersion(ctx, row);
    secrets.push({ name: row.name, version: row.version, kind: row.kind, sealed: row.sealed, value: plaintext.toString('base64') });
    plaintext.fill(0);
  }
  return { app, env, revision, secrets };
}

/** Writes a new version sealed under a fresh data key; zeroes `plaintext` and drops the env's cached batch. */
export async function writeSecret(
  ctx: ServerContext, r: SecretRef, plaintext: Buffer, meta: { cas?: number; kind: 'env' | 'file'; sealed: boolean; createdBy: string },
): Promise<SecretVersion> {
  try {
    const cas = meta.cas === undefined ? {} : { cas: meta.cas };
    return await ctx.store.putSecret({ ...r, ...cas }, async (version) => ({
      ...(await ctx.vault.seal({ ...r, version }, plaintext)),
      kind: meta.kind,
      sealed: meta.sealed,
      createdBy: meta.createdBy,
    }));
  } finally {
    plaintext.fill(0);
    ctx.envCache.invalidate(r.app, r.env);
  }
}

/** The request's end-to-end recipient, if it asked for one (parsed before anything is audited as granted). */
function e2eRecipient(req: FastifyRequest): X25519Recipient | undefined {
  const text = req.headers[E2E_HEADER] as string | undefined;
  if (text === undefined) return undefined;
  try {
    return X25519Recipient.parse(text);
  } catch {
    throw new WardError('ERR_API_BAD_REQUEST', `invalid ${E2E_HEADER}: not an age X25519 recipient`);
  }
}

/** Sends `json` as a binary age file encrypted to `recipient`. */
async function sendEncrypted(reply: FastifyReply, recipient: X25519Recipient, json: string): Promise<FastifyReply> {
  const plaintext = Buffer.from(json, 'utf8');
  try {
    return reply.type(E2E_CONTENT_TYPE).header('vary', E2E_HEADER).send(await ageEncrypt([recipient], plaintext));
  } finally {
    plaintext.fill(0);
  }
}

export async function secretRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.ward;
  const ref = (req: FastifyRequest): SecretRef => {
    const { app: a, env, name } = req.params as Params;
    return { app: a, env, name };
  };
  const write = (r: SecretRef, plaintext: Buffer, meta: { cas?: number; kind: 'env' | 'file'; sealed: boolean; createdBy: string }) => writeSecret(ctx, r, plaintext, meta);

  app.get('/secrets/:app/:env/:name', {
    schema: {
      summary: 'Read a secret (latest version, or ?version=N)',
      params: s.secretParams,
      querystring: s.readQuery,
      headers: e2eHeaders,
      response: { 200: s.secretValue, ...s.errorResponses },
    },
    config: { ward: { action: 'secret.read', op: 'read', resource: secretPath } },
    handler: async (req, reply) => {
      const r = ref(req);
      const q = req.query as { version?: string };
      const recipient = e2eRecipient(req);
      const row = await ctx.store.getSecret(r, q.version === undefined ? undefined : Number(q.version));
      if (!row || row.destroyedAt !== null) throw ctx.notFoundOrDenied(req, secretPath(req), q.version === undefined ? 'secret' : 'version');
      const plaintext = await openVersion(ctx, row);
      const value = plaintext.toString('base64');
      plaintext.fill(0);
      await ctx.audit(req, 'granted', `version=${row.version}${recipient ? ' e2e' : ''}`);
      const answer = { ...r, version: row.version, kind: row.kind, sealed: row.sealed, createdAt: row.createdAt, value };
      return recipient ? sendEncrypted(reply, recipient, JSON.stringify(answer)) : answer;
    },
  });

  app.get('/env/:app/:env', {
    schema: {
      summary: 'Read every secret of APP/ENV the caller may read (what `ward run` fetches)',
      params: s.envParams,
      headers: e2eHeaders,
      response: { 200: s.envBatch, ...s.errorResponses },
    },
    config: {
      ward: {
        action: 'env.read',
        op: 'read',
        resource: (req) => {
          const p = req.params as EnvParams;
          return `${p.app}/${p.env}/*`;
        },
      },
    },
    handler: async (req, reply) => {
      const { app: a, env } = req.params as EnvParams;
      const batch = await ctx.envCache.get(a, env, () => loadEnvBatch(ctx, a, env));
      const principal = ctx.principal(req);
      const source = sourceAddress(req);
      const authz = ctx.authz();
      // The scope A/E/* was authorized before this handler (source lists included). Without deny
      // rules, an admin or the env's own workload may read every item: skip the per-item checks.
      const whole = !authz.hasDenyRules && (principal.role === 'admin' || (principal.app === a && principal.env === env));
      const allowed = whole ? batch.secrets : batch.secrets.filter((item) => authz.decide(principal, 'read', `${a}/${env}/${item.name}`, source).decision === 'allow');
      const recipient = e2eRecipient(req);
      await ctx.audit(req, 'granted', `revision=${batch.revision} secrets=${allowed.length}${recipient ? ' e2e' : ''}`);
      const json = allowed.length === batch.secrets.length ? batch.json : JSON.stringify({ app: a, env, revision: batch.revision, secrets: allowed });
      if (recipient) return sendEncrypted(reply, recipient, json);
      reply.type('application/json; charset=utf-8');
      return reply.send(json);
    },
  });

  app.put('/secrets/:app/:env/:name', {
    bodyLimit: s.SECRET_BODY_LIMIT,
    schema: {
      summary: 'Write a new version (check-and-set with cas)',
      params: s.secretParams,
      body: s.putBody,
      response: { 200: s.versionAnswer, ...s.errorResponses },
    },
    config: { ward: { action: 'secret.write', op: 'write', resource: secretPath } },
    handler: async (req) => {
      const body = req.body as { value: string; cas?: number; kind?: 'env' | 'file'; sealed?: boolean };
      const plaintext = decodeValue(body.value);
      const meta = { kind: body.kind ?? 'env', sealed: body.sealed ?? false, createdBy: ctx.principal(req).spiffeId };
      const written = await write(ref(req), plaintext, body.cas === undefined ? meta : { ...meta, cas: body.cas });
      await ctx.audit(req, 'granted', `version=${written.version}`);
      return { version: written.version };
    },
  });

  app.get('/secrets', {
    schema: {
      summary: 'List secrets (metadata only), filtered to what the caller may list',
      querystring: s.listQuery,
      response: { 200: s.listAnswer, ...s.errorResponses },
    },
    config: {
      ward: {
        action: 'secret.list',
        op: 'list',
        resource: (req) => {
          const q = req.query as { app?: string; env?: string };
          return `${q.app ?? '*'}/${q.env ?? '*'}/*`;
        },
      },
    },
    handler: async (req) => {
      const q = req.query as { app?: string; env?: string; cursor?: string; limit?: string; deleted?: string };
      const principal = ctx.principal(req);
      const includeDeleted = q.deleted === 'true';
      if (includeDeleted && principal.role !== 'admin') throw new WardError('ERR_API_DENIED', 'only an admin may list deleted secrets');
      const page = await ctx.store.listSecrets({
        ...(q.app === undefined ? {} : { app: q.app }),
        ...(q.env === undefined ? {} : { env: q.env }),
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        ...(q.limit === undefined ? {} : { limit: Number(q.limit) }),
        includeDeleted,
      });
      const source = sourceAddress(req);
      const authz = ctx.authz();
      const items = page.items.filter((m) => authz.decide(principal, 'list', `${m.app}/${m.env}/${m.name}`, source).decision === 'allow');
      await ctx.audit(req, 'granted', `items=${items.length}`);
      return { items, next: page.next };
    },
  });

  app.get('/secrets/:app/:env/:name/history', {
    schema: { summary: 'Versions of a secret (metadata only)', params: s.secretParams, response: { 200: s.historyAnswer, ...s.errorResponses } },
    config: { ward: { action: 'secret.history', op: 'list', resource: secretPath } },
    handler: async (req) => {
      const r = ref(req);
      const meta = await ctx.store.getSecretMeta(r);
      if (!meta || meta.deletedAt !== null) throw ctx.notFoundOrDenied(req, secretPath(req), 'secret');
      const versions = (await ctx.store.history(r)).map((v) => ({
        version: v.version,
        createdAt: v.createdAt,
        createdBy: v.createdBy,
        kind: v.kind,
        sealed: v.sealed,
        destroyedAt: v.destroyedAt,
      }));
      await ctx.audit(req, 'granted', `versions=${versions.length}`);
      return { versions };
    },
  });

  app.delete('/secrets/:app/:env/:name', {
    schema: { summary: 'Soft-delete a secret (undelete restores it)', params: s.secretParams, response: { 200: s.flagAnswer('deleted'), ...s.errorResponses } },
    config: { ward: { action: 'secret.delete', op: 'write', resource: secretPath } },
    handler: async (req) => {
      const r = ref(req);
      const done = await ctx.store.softDelete(r);
      ctx.envCache.invalidate(r.app, r.env);
      if (!done) throw ctx.notFoundOrDenied(req, secretPath(req), 'secret');
      await ctx.audit(req, 'granted');
      return { deleted: true };
    },
  });

  app.post('/secrets/:app/:env/:name/undelete', {
    schema: { summary: 'Undo a soft delete', params: s.secretParams, response: { 200: s.flagAnswer('undeleted'), ...s.errorResponses } },
    config: { ward: { action: 'secret.undelete', op: 'write', resource: secretPath } },
    handler: async (req) => {
      const r = ref(req);
      const done = await ctx.store.undelete(r);
      ctx.envCache.invalidate(r.app, r.env);
      if (!done) throw ctx.notFoundOrDenied(req, secretPath(req), 'deleted secret');
      await ctx.audit(req, 'granted');
      return { undeleted: true };
    },
  });

  app.post('/secrets/:app/:env/:name/destroy', {
    schema: {
      summary: 'Erase the sealed bytes of some or all versions for good (metadata stays)',
      params: s.secretParams,
      body: s.destroyBody,
      response: { 200: s.countAnswer('destroyed'), ...s.errorResponses },
    },
    config: { ward: { action: 'secret.destroy', op: 'admin', resource: secretPath } },
    handler: async (req) => {
      const r = ref(req);
      const body = (req.body ?? {}) as { versions?: number[] };
      if (!(await ctx.store.getSecretMeta(r))) throw ctx.notFoundOrDenied(req, secretPath(req), 'secret');
      const destroyed = await ctx.store.destroy(r, body.versions);
      ctx.envCache.invalidate(r.app, r.env);
      await ctx.audit(req, 'granted', `destroyed=${destroyed}`);
      return { destroyed };
    },
  });

  app.post('/secrets/:app/:env/:name/rollback', {
    schema: {
      summary: 'Write an old version\'s value as a new version',
      params: s.secretParams,
      body: s.rollbackBody,
      response: { 200: s.versionAnswer, ...s.errorResponses },
    },
    config: { ward: { action: 'secret.rollback', op: 'write', resource: secretPath } },
    handler: async (req) => {
      const r = ref(req);
      const { version } = req.body as { version: number };
      const old = await ctx.store.getSecret(r, version);
      if (!old || old.destroyedAt !== null) throw ctx.notFoundOrDenied(req, secretPath(req), 'version');
      // Re-encrypted under a new data key: the associated data binds the new version number.
      const plaintext = await openVersion(ctx, old);
      const written = await write(r, plaintext, { kind: old.kind, sealed: old.sealed, createdBy: ctx.principal(req).spiffeId });
      await ctx.audit(req, 'granted', `version=${written.version} from=${version}`);
      return { version: written.version };
    },
  });
}
