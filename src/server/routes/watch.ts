/**
 * `GET /v1/watch/{app}/{env}?revision=N&wait=S` (docs/api.md): a long-poll for `ward run --watch`
 * and WardClient.watch. Answers `{revision}` as soon as APP/ENV's revision differs from N, or
 * after S seconds (≤ 60, default 30) with the same revision. It reveals only the revision counter;
 * the client then re-reads the batch, which is authorized and audited per secret as usual.
 *
 * Several replicas may share one PostgreSQL, so a change can come from another process: waiters
 * are served by polling the store's envRevision, once per APP/ENV every POLL_MS however many
 * clients wait on it. Pending waits are capped; a client that disconnects stops waiting; closing
 * the server answers every pending wait at once so that shutdown is not held up.
 */
import type { FastifyInstance } from 'fastify';
import { WardError } from '../../errors.ts';
import type { Store } from '../../store/types.ts';
import * as s from '../schemas.ts';

const POLL_MS = 250;
const MAX_WAIT_S = 60;
const DEFAULT_WAIT_S = 30;
const MAX_WAITERS = 10_000;

interface Waiter {
  since: number;
  done: (revision: number) => void;
}

interface Topic {
  app: string;
  env: string;
  waiters: Set<Waiter>;
  timer: NodeJS.Timeout | undefined;
  last: number;
}

/** Shared revision polling: one store query per APP/ENV and interval, for all its waiters. */
export class RevisionHub {
  private readonly topics = new Map<string, Topic>();
  private readonly store: Store;
  private count = 0;
  private closed = false;

  constructor(store: Store) {
    this.store = store;
  }

  get pending(): number {
    return this.count;
  }

  /** Resolves with the revision once it differs from `since`, or after `waitMs` with `since`. */
  async wait(app: string, env: string, since: number, waitMs: number, onAbort: (cancel: () => void) => void): Promise<number> {
    const current = await this.store.envRevision(app, env);
    if (current !== since || waitMs <= 0 || this.closed) return current;
    if (this.count >= MAX_WAITERS) throw new WardError('ERR_API_RATE_LIMITED', 'too many pending watches', { hint: 'retry later' });
    const key = `${app}/${env}`;
    let topic = this.topics.get(key);
    if (!topic) {
      topic = { app, env, waiters: new Set(), timer: undefined, last: current };
      this.topics.set(key, topic);
    }
    const t = topic;
    return new Promise<number>((resolve) => {
      const waiter: Waiter = {
        since,
        done: (revision) => {
          if (!t.waiters.delete(waiter)) return;
          this.count--;
          clearTimeout(timeout);
          if (t.waiters.size === 0) this.drop(key, t);
          resolve(revision);
        },
      };
      const timeout = setTimeout(() => waiter.done(since), waitMs);
      t.waiters.add(waiter);
      this.count++;
      onAbort(() => waiter.done(since));
      this.schedule(t);
    });
  }

  /** Answers every pending wait now (server shutdown). */
  close(): void {
    this.closed = true;
    for (const t of this.topics.values()) for (const w of [...t.waiters]) w.done(t.last);
  }

  private schedule(t: Topic): void {
    if (t.timer !== undefined) return;
    t.timer = setTimeout(() => void this.poll(t), POLL_MS);
  }

  private drop(key: string, t: Topic): void {
    clearTimeout(t.timer);
    t.timer = undefined;
    if (this.topics.get(key) === t) this.topics.delete(key);
  }

  private async poll(t: Topic): Promise<void> {
    t.timer = undefined;
    if (t.waiters.size === 0) return;
    try {
      t.last = await this.store.envRevision(t.app, t.env);
      for (const w of [...t.waiters]) if (w.since !== t.last) w.done(t.last);
    } catch {
      // store briefly unavailable: keep waiting; the client's timeout bounds the wait
    }
    if (t.waiters.size > 0) this.schedule(t);
  }
}

const watchQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['revision'],
  properties: {
    revision: { type: 'string', pattern: '^(0|[1-9][0-9]{0,14})$', description: 'the revision the caller has' },
    wait: { type: 'string', pattern: '^[0-9]{1,2}$', description: `seconds to wait for a change, at most ${MAX_WAIT_S} (default ${DEFAULT_WAIT_S})` },
  },
} as const;

const revisionAnswer = {
  type: 'object',
  additionalProperties: false,
  required: ['revision'],
  properties: { revision: { type: 'integer', minimum: 0 } },
} as const;

export async function watchRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.ward;
  const hub = new RevisionHub(ctx.store);
  app.addHook('preClose', async () => hub.close());

  app.get('/watch/:app/:env', {
    schema: {
      summary: 'Wait until the revision of APP/ENV differs from ?revision (long-poll, ?wait seconds ≤ 60)',
      params: s.envParams,
      querystring: watchQuery,
      response: { 200: revisionAnswer, ...s.errorResponses },
    },
    config: {
      ward: {
        action: 'env.watch',
        op: 'read',
        resource: (req) => {
          const p = req.params as { app: string; env: string };
          return `${p.app}/${p.env}/*`;
        },
      },
    },
    handler: async (req, reply) => {
      const { app: a, env } = req.params as { app: string; env: string };
      const q = req.query as { revision: string; wait?: string };
      const waitS = q.wait === undefined ? DEFAULT_WAIT_S : Number(q.wait);
      if (waitS > MAX_WAIT_S) throw new WardError('ERR_API_BAD_REQUEST', `wait must be at most ${MAX_WAIT_S} seconds`);
      const since = Number(q.revision);
      const revision = await hub.wait(a, env, since, waitS * 1000, (cancel) => reply.raw.once('close', cancel));
      await ctx.audit(req, 'granted', `revision=${revision}`);
      return { revision };
    },
  });
}
