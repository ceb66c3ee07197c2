/**
 * A short-lived cache of decrypted APP/ENV batches, the answer of `GET /v1/env/{app}/{env}` — the
 * request every `ward run` makes at start-up, and the hot path of the server.
 *
 * Without it each batch read costs a database query and, per secret, a data-key unwrap and an
 * AES-GCM open. With it, a batch is decrypted once per `ttlMs` (and after every change) and the
 * answer's JSON is kept ready to send.
 *
 * Security trade-off (docs/api.md, "Caching"): decrypted values of recently read environments stay
 * in this process's memory for at most `ttlMs` after their last refresh instead of only for the
 * length of one request. The master key that opens every value is in the same memory for the
 * server's whole life, so the exposure to someone who can read process memory does not grow in
 * kind; values never leave the process by this cache, and authorization and auditing still run on
 * every request (the cache only skips decryption). Consistency: every change made through this
 * server invalidates the entry at once (a generation counter also stops an in-flight refill that
 * started before the change from storing stale data); changes made by another replica sharing the
 * database are seen within `ttlMs`. `ttlMs: 0` turns the cache off.
 */
export interface EnvItem {
  name: string;
  version: number;
  kind: 'env' | 'file';
  sealed: boolean;
  /** base64 of the value */
  value: string;
}

export interface EnvBatch {
  app: string;
  env: string;
  revision: number;
  secrets: EnvItem[];
  /**
   * JSON text of the whole batch, serialized once. A string, not a Buffer: node's HTTP layer
   * prepends the headers to a string body and makes one write (one TLS record, one syscall),
   * while a Buffer body goes out as a second chunk.
   */
  json: string;
}

interface Entry {
  batch: EnvBatch;
  expires: number;
}

export interface EnvCache {
  /**
   * The cached batch — returned as it is, not in a promise: a hit is the server's hot path — or
   * loads it with `load` (deduplicating concurrent loads of one env).
   */
  get(app: string, env: string, load: () => Promise<Omit<EnvBatch, 'json'>>): EnvBatch | Promise<EnvBatch>;
  invalidate(app: string, env: string): void;
  size(): number;
  clear(): void;
}

export function createEnvCache(options: { ttlMs: number; maxEntries?: number; now?: () => number }): EnvCache {
  const { ttlMs } = options;
  const max = options.maxEntries ?? 1000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<EnvBatch>>();
  const generations = new Map<string, number>();
  // bumped by clear(): a load that started before (a seal) must not refill the cache after it
  let epoch = 0;
  const keyOf = (app: string, env: string) => `${app}/${env}`;
  const serialize = (b: Omit<EnvBatch, 'json'>): EnvBatch => ({
    ...b,
    json: JSON.stringify({ app: b.app, env: b.env, revision: b.revision, secrets: b.secrets }),
  });

  return {
    get(app, env, load) {
      if (ttlMs <= 0) return load().then(serialize);
      const key = keyOf(app, env);
      const hit = entries.get(key);
      if (hit && hit.expires > now()) return hit.batch;
      const inFlight = loading.get(key);
      if (inFlight) return inFlight;
      const generation = generations.get(key) ?? 0;
      const startedIn = epoch;
      const promise = (async () => {
        const batch = serialize(await load());
        if ((generations.get(key) ?? 0) === generation && epoch === startedIn) {
          entries.delete(key);
          entries.set(key, { batch, expires: now() + ttlMs });
          if (entries.size > max) entries.delete(entries.keys().next().value as string);
        }
        return batch;
      })().finally(() => {
        if (loading.get(key) === promise) loading.delete(key);
      });
      loading.set(key, promise);
      return promise;
    },
    invalidate(app, env) {
      const key = keyOf(app, env);
      entries.delete(key);
      loading.delete(key);
      generations.set(key, (generations.get(key) ?? 0) + 1);
    },
    size: () => entries.size,
    clear() {
      epoch++;
      entries.clear();
      loading.clear();
    },
  };
}
