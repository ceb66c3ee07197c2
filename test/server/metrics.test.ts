/**
 * The request metrics (src/server/metrics.ts): counts per route, method and outcome, and a latency
 * histogram per route and outcome, as Prometheus prints them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../src/server/metrics.ts';

test('requests are counted per route, method and outcome; latencies land in cumulative buckets', async () => {
  const metrics = createMetrics({ auditQueueDepth: () => 3, dataKeyCache: () => 0, envCache: () => 1 });
  metrics.observe('/v1/env/:app/:env', 'GET', 'ok', 0.0004);
  metrics.observe('/v1/env/:app/:env', 'GET', 'ok', 0.003);
  metrics.observe('/v1/env/:app/:env', 'GET', '403', 0.002);
  metrics.observe('/v1/secrets/:app/:env/:name', 'PUT', 'ok', 2);
  metrics.observe('/v1/secrets/:app/:env/:name', 'GET', 'ok', 0.0001);
  const text = await metrics.registry.metrics();
  assert.match(text, /ward_http_requests_total\{route="\/v1\/env\/:app\/:env",method="GET",outcome="ok"\} 2\n/);
  assert.match(text, /ward_http_requests_total\{route="\/v1\/env\/:app\/:env",method="GET",outcome="403"\} 1\n/);
  assert.match(text, /ward_http_requests_total\{route="\/v1\/secrets\/:app\/:env\/:name",method="PUT",outcome="ok"\} 1\n/);
  const bucket = (le: string, route: string, outcome: string) =>
    Number(new RegExp(`ward_http_request_duration_seconds_bucket\\{le="${le}",route="${route}",outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1]);
  assert.equal(bucket('0.0005', '/v1/env/:app/:env', 'ok'), 1);
  assert.equal(bucket('0.005', '/v1/env/:app/:env', 'ok'), 2);
  assert.equal(bucket('\\+Inf', '/v1/env/:app/:env', 'ok'), 2);
  // methods are summed in the histogram
  assert.equal(bucket('0.0005', '/v1/secrets/:app/:env/:name', 'ok'), 1);
  assert.equal(bucket('1', '/v1/secrets/:app/:env/:name', 'ok'), 1);
  assert.equal(bucket('5', '/v1/secrets/:app/:env/:name', 'ok'), 2);
  assert.match(text, /ward_http_request_duration_seconds_count\{route="\/v1\/secrets\/:app\/:env\/:name",outcome="ok"\} 2\n/);
  assert.match(text, /ward_audit_queue_depth 3\n/);
});
