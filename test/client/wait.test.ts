import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WardError } from '../../src/errors.ts';
import { backoffDelay, isTransient, retry } from '../../src/client/wait.ts';

const down = () => new WardError('ERR_API_UNAVAILABLE', 'cannot reach https://a:1 (ECONNREFUSED)');

test('backoff doubles up to the cap, with jitter in [d/2, d]', () => {
  const opts = { initialMs: 100, maxMs: 1000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, opts, () => 0.999999)), [100, 200, 400, 800, 1000, 1000]);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, opts, () => 0)), [50, 100, 200, 400, 500, 500]);
  assert.throws(() => backoffDelay(0), TypeError);
});

test('transient: unreachable, rate-limited, sealed; not: denied, untrusted server', () => {
  assert.ok(isTransient(down()));
  assert.ok(isTransient(new WardError('ERR_KEY_SEALED', 'sealed')));
  assert.ok(!isTransient(new WardError('ERR_API_DENIED', 'no')));
  assert.ok(!isTransient(new WardError('ERR_TLS_SERVER_UNTRUSTED', 'no')));
  assert.ok(!isTransient(new Error('x')));
});

test('retries until success, logging each failed attempt', async () => {
  const logs: string[] = [];
  let n = 0;
  const r = await retry(async ({ attempt }) => {
    n = attempt;
    if (attempt < 3) throw down();
    return 'ok';
  }, { waitMs: 5000, initialMs: 10, maxMs: 20, log: (m) => logs.push(m) });
  assert.equal(r, 'ok');
  assert.equal(n, 3);
  assert.equal(logs.length, 2);
  assert.match(logs[0]!, /^attempt 1: cannot reach https:\/\/a:1 \(ECONNREFUSED\); retrying in \d+ms$/);
});

test('a non-transient error stops at once', async () => {
  let calls = 0;
  await assert.rejects(retry(async () => {
    calls++;
    throw new WardError('ERR_API_DENIED', 'denied');
  }, { waitMs: 5000 }), { code: 'ERR_API_DENIED' });
  assert.equal(calls, 1);
});

test('gives up with ERR_API_UNAVAILABLE (exit 5) within the budget', async () => {
  const start = performance.now();
  const e = await retry(async () => {
    throw down();
  }, { waitMs: 300, initialMs: 50, maxMs: 100 }).catch((x: unknown) => x);
  const took = performance.now() - start;
  assert.ok(e instanceof WardError && e.code === 'ERR_API_UNAVAILABLE' && e.exitCode === 5);
  assert.match(e.message, /gave up waiting for a server after 300ms \(\d+ attempts\): cannot reach/);
  assert.ok(took >= 290 && took < 600, `took ${took}`);
});

test('a hanging attempt is cut at the end of the budget', async () => {
  const start = performance.now();
  await assert.rejects(retry(() => new Promise<never>(() => {}), { waitMs: 200 }), { code: 'ERR_API_UNAVAILABLE' });
  assert.ok(performance.now() - start < 500);
});

test('waitMs 0 waits forever; an abort signal ends it', async () => {
  const ac = new AbortController();
  let calls = 0;
  setTimeout(() => ac.abort(new Error('stop')), 200);
  await assert.rejects(retry(async () => {
    calls++;
    throw down();
  }, { waitMs: 0, initialMs: 10, maxMs: 20, signal: ac.signal }), /stop/);
  assert.ok(calls > 3);
});
