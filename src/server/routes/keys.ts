/**
 * Key routes (docs/api.md, docs/keys.md): seal status, unseal and seal of the master key, and the
 * per-APP/ENV key encryption keys (list, rotate, re-wrap, destroy).
 *
 * Only the status and unseal routes (and seal, which is idempotent) are served while the master
 * key is sealed; app.ts refuses every other route with 503 ERR_KEY_SEALED. Unseal submissions are
 * rate-limited per client certificate and their secret never reaches a log or an audit record.
 *
 * Rotation is driven by the client in short requests, so reads go on and progress can be shown:
 * `rotate` starts a new KEK version, then `rewrap` is called until `remaining` is 0; each call
 * re-wraps one batch of data keys (the values are not re-encrypted) with a check-and-set on the
 * old key id, and once nothing is left, destroys the old versions no live data key uses.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WardError } from '../../errors.ts';
import { kekKeyId, parseKekKeyId, type KekScope } from '../../keys/hierarchy.ts';
import type { UnsealProgress } from '../../keys/provider.ts';
import type { ServerContext } from '../app.ts';
import { createRateLimiter } from '../rate-limit.ts';
import * as s from '../schemas.ts';
import type { RewrapUpdate } from '../../store/types.ts';
import { secretAad } from '../vault.ts';

/** Largest passphrase or share accepted, in bytes (before base64). */
export const MAX_UNSEAL_SECRET_BYTES = 1024;
/** Largest batch of one rewrap call. */
const MAX_BATCH = 1000;
const PAGE = 200;

const segment = { type: 'string', pattern: s.SEGMENT_PATTERN } as const;
const uint = { type: 'integer', minimum: 0, maximum: 4294967295 } as const;
function obj(properties: Record<string, unknown>, required: string[] = Object.keys(properties)) {
  return { type: 'object', additionalProperties: false, required, properties } as const;
}

const progress = obj({
  sealed: { type: 'boolean' },
  provider: { type: 'string', description: 'file, passphrase, shamir or pkcs11' },
  have: uint,
  need: uint,
});
const unsealBody = obj({
  secret: {
    type: 'string',
    minLength: 1,
    maxLength: Math.ceil(MAX_UNSEAL_SECRET_BYTES / 3) * 4,
    pattern: '^[A-Za-z0-9+/]*={0,2}$',
    description: 'base64 of the passphrase (passphrase) or of one share (shamir); omitted for file and pkcs11, which reload the key file or log in to the token again',
  },
}, []);
/** Providers unsealed with a secret; the others (file, pkcs11) reach their key again by themselves. */
const NEEDS_SECRET = new Set(['passphrase', 'shamir']);
const scopeVersion = obj({
  version: { type: 'integer', minimum: 1 },
  masterKeyId: { type: 'string' },
  createdAt: { type: 'integer', minimum: 0 },
  destroyed: { type: 'boolean' },
  dataKeys: uint,
});
const keysAnswer = obj({
  scopes: {
    type: 'array',
    items: obj({
      app: segment,
      env: segment,
      versions: { type: 'array', items: scopeVersion },
      masterWrapped: { ...uint, description: 'data keys still wrapped by the master key directly (written before KEKs)' },
    }),
  },
});
const rewrapBody = obj({ limit: { type: 'integer', minimum: 1, maximum: MAX_BATCH, description: 'data keys to re-wrap in this call (default 200)' } }, []);
const rewrapAnswer = obj({
  version: { type: 'integer', minimum: 1, description: 'the current KEK version' },
  rewrapped: uint,
  remaining: { ...uint, description: 'data keys of the scope not yet under the current version' },
  unreadable: { ...uint, description: 'data keys whose KEK was destroyed or whose master key this server does not hold' },
  destroyed: { type: 'array', items: { type: 'integer', minimum: 1 }, description: 'old KEK versions destroyed by this call' },
  kept: { type: 'array', items: { type: 'integer', minimum: 1 }, description: 'old unused versions kept until replicas have seen the new one' },
});
const destroyBody = obj({ confirm: { type: 'string', maxLength: 260, description: 'must repeat APP/ENV' } });
const destroyAnswer = obj({ destroyed: { ...uint, description: 'KEK versions destroyed' }, dataKeys: { ...uint, description: 'data keys made unreadable' } });

const scopeOf = (req: FastifyRequest): KekScope => {
  const p = req.params as { app: string; env: string };
  return { app: p.app, env: p.env };
};
const scopePath = (req: FastifyRequest) => {
  const { app, env } = scopeOf(req);
  return `keys/${app}/${env}`;
};

/** Where an unseal stands, without submitting anything. */
async function unsealProgress(ctx: ServerContext): Promise<UnsealProgress> {
  const keys = ctx.keys;
  // shamir's unseal() without a share only reports; the others' would reload or demand a secret
  if (keys.kind === 'shamir') return keys.unseal();
  return keys.sealed ? { sealed: true, have: 0, need: 1 } : { sealed: false, have: 1, need: 1 };
}

export interface KeyRoutesOptions {
  /**
   * How long an old KEK version must have been superseded before rewrap destroys it: other
   * replicas may write with it until their KEK cache (60 s) expires. 0 with a store of its own.
   */
  destroyGraceMs: number;
}

export async function keyRoutes(app: FastifyInstance, opts: KeyRoutesOptions): Promise<void> {
  const ctx = app.ward;
  const limiter = createRateLimiter({ burst: 10, perMinute: 20, maxSources: 1000 });

  app.get('/sys/status', {
    schema: { summary: 'Whether the master key is sealed, and unseal progress', response: { 200: progress, ...s.errorResponses } },
    config: { ward: { action: 'sys.status', op: null, resource: () => 'sys/status', whileSealed: true } },
    handler: async (req) => {
      const p = await unsealProgress(ctx);
      await ctx.audit(req, 'granted', p.sealed ? `sealed have=${p.have} need=${p.need}` : 'unsealed');
      return { ...p, provider: ctx.keys.kind };
    },
  });

  app.post('/sys/unseal', {
    bodyLimit: 4096,
    schema: { summary: 'Submit the passphrase or one unseal share', body: unsealBody, response: { 200: progress, ...s.errorResponses } },
    config: { ward: { action: 'sys.unseal', op: 'admin', resource: () => 'sys/unseal', whileSealed: true } },
    handler: async (req) => {
      if (!limiter.take(req.caller?.serial ?? '-')) throw new WardError('ERR_API_RATE_LIMITED', 'too many unseal attempts; wait a minute');
      const body = (req.body ?? {}) as { secret?: string };
      const secret = Buffer.from(body.secret ?? '', 'base64');
      const wasSealed = ctx.keys.sealed;
      let p: UnsealProgress;
      try {
        if (secret.length > MAX_UNSEAL_SECRET_BYTES) throw new WardError('ERR_API_BAD_REQUEST', `the secret must be at most ${MAX_UNSEAL_SECRET_BYTES} bytes`);
        const needs = NEEDS_SECRET.has(ctx.keys.kind);
        if (needs && secret.length === 0) throw new WardError('ERR_API_BAD_REQUEST', `the ${ctx.keys.kind} key provider is unsealed with a secret`);
        if (!needs && secret.length > 0) throw new WardError('ERR_API_BAD_REQUEST', `the ${ctx.keys.kind} key provider is unsealed without a secret`);
        p = ctx.keys.sealed ? await ctx.keys.unseal(needs ? secret : undefined) : await unsealProgress(ctx);
        if (!p.sealed) {
          await ctx.hierarchy.reopenPrevious();
          await ctx.serverIdentity.rewrap().catch((e: unknown) => req.log.error({ err: e }, 'cannot move the server identity under the current master key'));
        }
      } finally {
        secret.fill(0);
      }
      await ctx.audit(req, 'granted', p.sealed ? `have=${p.have} need=${p.need}` : 'unsealed');
      if (wasSealed && !p.sealed) req.log.warn('the master key was unsealed');
      return { ...p, provider: ctx.keys.kind };
    },
  });

  app.post('/sys/seal', {
    schema: { summary: 'Drop the master key, KEKs, data keys and cached values from memory at once', response: { 200: progress, ...s.errorResponses } },
    config: { ward: { action: 'sys.seal', op: 'admin', resource: () => 'sys/seal', whileSealed: true } },
    handler: async (req) => {
      ctx.seal();
      await ctx.audit(req, 'granted');
      req.log.warn('the master key was sealed on request');
      return { ...(await unsealProgress(ctx)), provider: ctx.keys.kind };
    },
  });

  app.get('/keys', {
    schema: { summary: 'KEK versions of every APP/ENV and how many data keys each wraps', response: { 200: keysAnswer, ...s.errorResponses } },
    config: { ward: { action: 'key.list', op: 'admin', resource: () => 'keys' } },
    handler: async (req) => {
      const [keks, usage] = await Promise.all([ctx.store.listKeks(), ctx.store.keyUsage()]);
      const scopes = new Map<string, { app: string; env: string; versions: { version: number; masterKeyId: string; createdAt: number; destroyed: boolean; dataKeys: number }[]; masterWrapped: number }>();
      const scope = (app: string, env: string) => {
        const id = `${app}/${env}`;
        let v = scopes.get(id);
        if (!v) scopes.set(id, (v = { app, env, versions: [], masterWrapped: 0 }));
        return v;
      };
      const counts = new Map(usage.map((u) => [`${u.app}/${u.env}/${u.keyId}`, u.count]));
      for (const k of keks) {
        // listKeks leaves `wrapped` empty: destroyed is what getKek would say
        scope(k.app, k.env).versions.push({ version: k.version, masterKeyId: k.masterKeyId, createdAt: k.createdAt, destroyed: false, dataKeys: counts.get(`${k.app}/${k.env}/${kekKeyId(k.masterKeyId, k, k.version)}`) ?? 0 });
      }
      for (const u of usage) if (!u.keyId.includes('/')) scope(u.app, u.env).masterWrapped += u.count;
      for (const sc of scopes.values()) {
        for (const v of sc.versions) v.destroyed = ((await ctx.store.getKek(sc.app, sc.env, v.version))?.wrapped.length ?? 0) === 0;
      }
      const list = [...scopes.values()].sort((a, b) => (a.app === b.app ? (a.env < b.env ? -1 : 1) : a.app < b.app ? -1 : 1));
      await ctx.audit(req, 'granted', `scopes=${list.length}`);
      return { scopes: list };
    },
  });

  app.post('/keys/:app/:env/rotate', {
    schema: { summary: 'Start a new KEK version of APP/ENV (then call rewrap until remaining is 0)', params: s.envParams, response: { 200: s.obj1('version', { type: 'integer', minimum: 1 }), ...s.errorResponses } },
    config: { ward: { action: 'key.rotate', op: 'admin', resource: scopePath } },
    handler: async (req) => {
      const version = await ctx.hierarchy.rotate(scopeOf(req));
      await ctx.audit(req, 'granted', `version=${version}`);
      return { version };
    },
  });

  app.post('/keys/:app/:env/rewrap', {
    schema: { summary: 'Re-wrap a batch of data keys of APP/ENV under its current KEK; destroy unused old versions', params: s.envParams, body: rewrapBody, response: { 200: rewrapAnswer, ...s.errorResponses } },
    config: { ward: { action: 'key.rewrap', op: 'admin', resource: scopePath } },
    handler: async (req) => {
      const scope = scopeOf(req);
      const { limit = PAGE } = (req.body ?? {}) as { limit?: number };
      const result = await rewrapBatch(ctx, scope, limit, opts.destroyGraceMs);
      await ctx.audit(req, 'granted', `version=${result.version} rewrapped=${result.rewrapped} remaining=${result.remaining} destroyed=${result.destroyed.join(',') || '-'}`);
      return result;
    },
  });

  app.post('/keys/:app/:env/destroy', {
    schema: { summary: 'Destroy every KEK version of APP/ENV: its secrets become unreadable for good', params: s.envParams, body: destroyBody, response: { 200: destroyAnswer, ...s.errorResponses } },
    config: { ward: { action: 'key.destroy', op: 'admin', resource: scopePath } },
    handler: async (req) => {
      const scope = scopeOf(req);
      if ((req.body as { confirm: string }).confirm !== `${scope.app}/${scope.env}`) {
        throw new WardError('ERR_API_BAD_REQUEST', `confirm must repeat ${scope.app}/${scope.env}`);
      }
      // data keys still wrapped by the master key directly would survive: move them under the KEK first
      const master = ctx.keys.keyId;
      for (let moved = 1; moved > 0; ) moved = (await rewrapKeyId(ctx, scope, master, MAX_BATCH)).rewrapped;
      const dataKeys = (await ctx.store.keyUsage(scope)).reduce((n, u) => n + (u.keyId.includes('/') ? u.count : 0), 0);
      const destroyed = await ctx.hierarchy.destroy(scope);
      ctx.vault.clear();
      ctx.envCache.invalidate(scope.app, scope.env);
      await ctx.audit(req, 'granted', `versions=${destroyed} dataKeys=${dataKeys}`);
      req.log.warn({ app: scope.app, env: scope.env }, 'key encryption keys destroyed');
      return { destroyed, dataKeys };
    },
  });
}

/**
 * Re-wraps live data keys of the scope wrapped by `keyId`, looking at up to `budget` of them; a
 * row changed meanwhile (destroyed, re-wrapped by another call) is left as it is.
 * @throws WardError ERR_CRYPTO_AUTH when a stored data key does not open: rotation stops there
 */
async function rewrapKeyId(ctx: ServerContext, scope: KekScope, keyId: string, budget: number): Promise<{ seen: number; rewrapped: number }> {
  let after: { name: string; version: number } | null = null;
  let seen = 0;
  let rewrapped = 0;
  while (seen < budget) {
    const page = Math.min(PAGE, budget - seen);
    const rows = await ctx.store.wrappedKeys(scope.app, scope.env, keyId, after, page);
    const updates: RewrapUpdate[] = [];
    for (const row of rows) {
      let next;
      try {
        next = await ctx.hierarchy.rewrap(row.wrappedKey, secretAad(row), row.keyId, scope);
      } catch (e) {
        if (!(e instanceof WardError) || e.code !== 'ERR_CRYPTO_AUTH') throw e;
        throw new WardError('ERR_CRYPTO_AUTH', `the data key of ${row.app}/${row.env}/${row.name} version ${row.version} does not open: rotation stopped`, { cause: e });
      }
      if (next.keyId !== row.keyId) updates.push({ ref: row, oldKeyId: row.keyId, wrappedKey: next.wrappedKey, keyId: next.keyId });
    }
    // one transaction per page (SQLite: one fsync, during which the event loop waits)
    rewrapped += (await ctx.store.rewrapKeys(updates)).filter(Boolean).length;
    seen += rows.length;
    const last = rows.at(-1);
    if (!last || rows.length < page) break;
    after = { name: last.name, version: last.version };
  }
  return { seen, rewrapped };
}

/** Whether the data keys of `keyId` can be re-wrapped here (their KEK lives and its master, current or former, is held). */
async function movable(ctx: ServerContext, keyId: string): Promise<boolean> {
  const parsed = parseKekKeyId(keyId);
  if (!parsed) return ctx.hierarchy.holds(keyId);
  if (!ctx.hierarchy.holds(parsed.masterKeyId)) return false;
  const kek = await ctx.store.getKek(parsed.scope.app, parsed.scope.env, parsed.version);
  return kek !== null && kek.wrapped.length > 0;
}

export interface RewrapResult {
  version: number;
  rewrapped: number;
  remaining: number;
  unreadable: number;
  destroyed: number[];
  kept: number[];
}

/** One rewrap call (see the top of this file). */
export async function rewrapBatch(ctx: ServerContext, scope: KekScope, limit: number, graceMs: number): Promise<RewrapResult> {
  const version = await ctx.hierarchy.currentVersion(scope);
  const current = kekKeyId(ctx.keys.keyId, scope, version);
  let budget = limit;
  let rewrapped = 0;
  for (const u of await ctx.store.keyUsage(scope)) {
    if (budget === 0) break;
    if (u.keyId === current || !(await movable(ctx, u.keyId))) continue;
    const done = await rewrapKeyId(ctx, scope, u.keyId, budget);
    rewrapped += done.rewrapped;
    budget -= done.seen;
  }
  let remaining = 0;
  let unreadable = 0;
  const usage = await ctx.store.keyUsage(scope);
  for (const u of usage) {
    if (u.keyId === current) continue;
    if (await movable(ctx, u.keyId)) remaining += u.count;
    else unreadable += u.count;
  }
  const destroyed: number[] = [];
  const kept: number[] = [];
  if (remaining === 0) {
    const used = new Set(usage.map((u) => u.keyId));
    const newest = await ctx.store.getKek(scope.app, scope.env, version);
    for (let v = 1; v < version; v++) {
      const kek = await ctx.store.getKek(scope.app, scope.env, v);
      if (!kek || kek.wrapped.length === 0 || used.has(kekKeyId(kek.masterKeyId, scope, v))) continue;
      if (newest && ctx.now() - newest.createdAt < graceMs) {
        kept.push(v);
        continue;
      }
      await ctx.hierarchy.destroyVersion(scope, v);
      destroyed.push(v);
    }
  }
  return { version, rewrapped, remaining, unreadable, destroyed, kept };
}
