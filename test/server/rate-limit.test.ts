import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRateLimiter } from '../../src/server/rate-limit.ts';

test('a source gets `burst` requests at once, then perMinute a minute; sources are independent', () => {
  let t = 0;
  const rl = createRateLimiter({ burst: 3, perMinute: 6, now: () => t });
  assert.deepEqual([1, 2, 3, 4].map(() => rl.take('a')), [true, true, true, false]);
  assert.equal(rl.take('b'), true, 'another source has its own bucket');
  t += 9_999;
  assert.equal(rl.take('a'), false, 'one token takes 10 s at 6 a minute');
  t += 1;
  assert.equal(rl.take('a'), true);
  assert.equal(rl.take('a'), false);
  t += 10 * 60_000;
  assert.deepEqual([1, 2, 3, 4].map(() => rl.take('a')), [true, true, true, false], 'refills up to burst, not beyond');
});

test('the table of sources is bounded: past maxSources, new sources share one overflow bucket', () => {
  let t = 0;
  const rl = createRateLimiter({ burst: 2, perMinute: 1, maxSources: 3, now: () => t });
  for (const s of ['a', 'b', 'c']) assert.equal(rl.take(s), true);
  assert.equal(rl.take('d'), true);
  assert.equal(rl.take('e'), true);
  assert.equal(rl.take('f'), false, 'd, e and f share the overflow bucket');
  assert.ok(rl.size() <= 4);
  // refilled buckets are forgotten to make room
  t += 10 * 60_000;
  assert.equal(rl.take('g'), true);
  assert.ok(rl.size() <= 4);
});
