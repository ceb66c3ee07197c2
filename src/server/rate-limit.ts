/**
 * Per-source token buckets for the enrolment listener, the one port reachable without a client
 * certificate: each source address may make `burst` requests at once and then `perMinute` a
 * minute. Buckets that have refilled are forgotten, and the table is bounded (`maxSources`): when
 * full, new sources share one overflow bucket, so a flood of addresses cannot grow memory.
 */

export interface RateLimitOptions {
  burst?: number;
  perMinute?: number;
  maxSources?: number;
  now?: () => number;
}

export interface RateLimiter {
  /** Takes one token for `source`; false when its bucket is empty. */
  take(source: string): boolean;
  size(): number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const OVERFLOW = '\0overflow';

export function createRateLimiter(o: RateLimitOptions = {}): RateLimiter {
  const burst = o.burst ?? 10;
  const perMs = (o.perMinute ?? 10) / 60_000;
  const maxSources = o.maxSources ?? 10_000;
  const now = o.now ?? Date.now;
  if (!(burst >= 1) || !(perMs > 0)) throw new TypeError('rate limit: burst >= 1 and perMinute > 0');
  const buckets = new Map<string, Bucket>();

  const sweep = (t: number) => {
    for (const [k, b] of buckets) if (b.tokens + (t - b.at) * perMs >= burst) buckets.delete(k);
  };

  return {
    take(source) {
      const t = now();
      let key = source;
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size >= maxSources) sweep(t);
        if (buckets.size >= maxSources) key = OVERFLOW;
        b = buckets.get(key) ?? { tokens: burst, at: t };
        buckets.set(key, b);
      }
      b.tokens = Math.min(burst, b.tokens + (t - b.at) * perMs);
      b.at = t;
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
    size: () => buckets.size,
  };
}
