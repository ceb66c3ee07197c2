/**
 * The plain-HTTP health listener (loopback by default: it carries no secrets and no identities,
 * but /metrics shows traffic patterns, so keep it off public interfaces):
 *
 *   GET /healthz  200 while the process runs
 *   GET /readyz   200 when the API listens, the master key is unsealed and the store answers; 503
 *                 {"status":"sealed"} while sealed (docs/keys.md), {"status":"not ready"} while
 *                 draining or failing
 *   GET /metrics  Prometheus text (src/server/metrics.ts)
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthOptions {
  registry: Registry;
  /** Resolves when the server can serve requests; rejects or resolves false otherwise. */
  ready: () => Promise<boolean>;
  /** True while the master key is sealed: not ready, and /readyz says so. */
  sealed?: () => boolean;
}

export function createHealthServer(opts: HealthOptions): Server {
  return createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/healthz') return send(200, 'application/json', '{"status":"ok"}\n');
    if (path === '/readyz') {
      if (opts.sealed?.()) return send(503, 'application/json', '{"status":"sealed"}\n');
      opts.ready().then(
        (ok) => send(ok ? 200 : 503, 'application/json', ok ? '{"status":"ready"}\n' : '{"status":"not ready"}\n'),
        () => send(503, 'application/json', '{"status":"not ready"}\n'),
      );
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => send(200, opts.registry.contentType, text),
        () => send(500, 'text/plain', 'metrics unavailable\n'),
      );
      return;
    }
    send(404, 'text/plain', 'not found\n');
  });
}
