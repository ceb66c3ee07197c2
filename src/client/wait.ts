/**
 * Waiting for the server: retries with exponential backoff and jitter until a call succeeds, a
 * non-transient error occurs, or the time budget runs out (`ward run --wait`).
 *
 * Delay before attempt n+1 (n ≥ 1): a random value in [d/2, d] with d = min(max, initial·2^(n-1))
 * ("equal jitter"), so a fleet of devices that lost their server together does not come back in
 * lock-step, yet each retries at least every max/2. A budget of 0 waits forever (devices that must
 * wait for their key server); otherwise the last attempt is cut short so that giving up happens
 * within the budget.
 *
 * Only failures that waiting can cure are retried: the server cannot be reached, is overloaded,
 * sealed or has lost its store. A refused certificate, a denied read or a bad answer stops at once.
 */
import { WardError, type WardErrorCode } from '../errors.ts';

export const DEFAULT_WAIT_MS = 60_000;

export interface BackoffOptions {
  /** First delay's upper bound. */
  initialMs?: number;
  /** Largest delay's upper bound. */
  maxMs?: number;
}

const TRANSIENT = new Set<WardErrorCode>(['ERR_API_UNAVAILABLE', 'ERR_API_RATE_LIMITED', 'ERR_KEY_SEALED', 'ERR_STORE_UNAVAILABLE', 'ERR_TLS_HANDSHAKE']);

/** True for failures that may go away by waiting. */
export function isTransient(e: unknown): boolean {
  return e instanceof WardError && TRANSIENT.has(e.code);
}

/** The delay after failed attempt `attempt` (1-based). `random` is in [0, 1). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new TypeError('attempt must be a positive integer');
  const initial = options.initialMs ?? 250;
  const max = options.maxMs ?? 5_000;
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export interface RetryContext {
  /** 1-based. */
  attempt: number;
  /** Time left in the budget, or Infinity; an attempt should not take longer. */
  remainingMs: number;
}

export interface RetryOptions extends BackoffOptions {
  /** Total budget in milliseconds; 0 means no limit. */
  waitMs: number;
  /** Told about every failed attempt that will be retried; messages never hold secrets. */
  log?: (message: string) => void;
  signal?: AbortSignal;
  /** Which failures to retry; {@link isTransient} by default. */
  retryable?: (e: unknown) => boolean;
  /** What is being waited for, for messages ("a server"). */
  what?: string;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const LATE = Symbol('late');

/** Races `p` against the end of the budget, so a hanging connection cannot overrun it. */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  if (!Number.isFinite(ms)) return p;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(LATE), Math.max(0, ms));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${ms}ms`;
}

/**
 * Calls `fn` until it succeeds; see the top of this file.
 * @throws the first non-retryable error as is; ERR_API_UNAVAILABLE (exit 5) naming the last
 *   failure when the budget is spent; `signal.reason` when aborted
 */
export async function retry<T>(fn: (ctx: RetryContext) => Promise<T>, options: RetryOptions): Promise<T> {
  if (!(options.waitMs >= 0)) throw new TypeError('waitMs must be >= 0');
  const retryable = options.retryable ?? isTransient;
  const what = options.what ?? 'a server';
  const start = performance.now();
  const deadline = options.waitMs === 0 ? Infinity : start + options.waitMs;
  let last: unknown;
  const giveUp = (attempts: number) =>
    new WardError('ERR_API_UNAVAILABLE', `gave up waiting for ${what} after ${formatMs(options.waitMs)} (${attempts} attempts): ${last instanceof Error ? last.message : 'no answer in time'}`, {
      cause: last,
      hint: 'check the server address and the network, or wait longer with --wait (0 waits forever)',
    });
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw options.signal.reason;
    try {
      return await withDeadline(fn({ attempt, remainingMs: deadline - performance.now() }), deadline - performance.now());
    } catch (e) {
      if (e === LATE) throw giveUp(attempt);
      if (options.signal?.aborted) throw options.signal.reason;
      if (!retryable(e)) throw e;
      last = e;
    }
    const left = deadline - performance.now();
    if (left <= 0) throw giveUp(attempt);
    const pause = Math.min(backoffDelay(attempt, options), left);
    options.log?.(`attempt ${attempt}: ${last instanceof Error ? last.message : String(last)}; retrying in ${formatMs(pause)}`);
    await sleep(pause, options.signal);
  }
}
