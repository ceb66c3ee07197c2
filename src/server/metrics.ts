/**
 * Prometheus metrics, served by the health listener at GET /metrics. A registry of its own (not
 * prom-client's global one), so several servers in one process (tests) do not collide.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  /** Counts one answered request. `route` is the route pattern (never the raw URL: bounded labels). */
  observe(route: string, method: string, outcome: string, seconds: number): void;
}

export function createMetrics(gauges: { auditQueueDepth: () => number; dataKeyCache: () => number; envCache: () => number }): Metrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'ward_http_requests_total',
    help: 'API requests answered, by route, method and outcome',
    labelNames: ['route', 'method', 'outcome'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'ward_http_request_duration_seconds',
    help: 'API request latency, by route and outcome',
    labelNames: ['route', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'ward_audit_queue_depth',
    help: 'Audit records waiting for their commit',
    registers: [registry],
    collect() {
      this.set(gauges.auditQueueDepth());
    },
  });
  new Gauge({
    name: 'ward_data_key_cache_entries',
    help: 'Unwrapped data keys held in memory',
    registers: [registry],
    collect() {
      this.set(gauges.dataKeyCache());
    },
  });
  new Gauge({
    name: 'ward_env_cache_entries',
    help: 'Decrypted APP/ENV batches held in memory',
    registers: [registry],
    collect() {
      this.set(gauges.envCache());
    },
  });
  return {
    registry,
    observe(route, method, outcome, seconds) {
      requests.inc({ route, method, outcome });
      latency.observe({ route, outcome }, seconds);
    },
  };
}
