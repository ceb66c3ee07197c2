/**
 * Where Ward's keep-alive CPU per request goes, layer by layer: servers that answer
 * `GET /v1/env/bench/prod` with the same bytes over the same mTLS settings (app.ts tlsOptions),
 * each doing a little more of Ward's work. Run by run.sh when LAYERS=1; never a Ward deployment.
 *
 *   node bench/server/layers.ts https|fastify|ward-noaudit DIR PORT
 *
 * https: node:https alone, the bytes from a string (the floor of any Node server here).
 * fastify: one fastify route with a params schema, same server options as Ward's.
 * ward-noaudit: Ward's own server (buildServer: identity, revocation, authorization, env cache,
 *   metrics) with an audit sink that answers at once and writes nothing — what the audit costs is
 *   the difference to `ward`. Not a mode Ward offers: the server always audits durably.
 */
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { loadConfig } from '../../src/config.ts';
import { openKeyProvider } from '../../src/keys/index.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { buildServer, tlsOptions } from '../../src/server/app.ts';

const [layer, dir, portText] = process.argv.slice(2);
if (!layer || !dir || !portText) throw new Error('usage: layers.ts https|fastify|ward-noaudit DIR PORT');
const port = Number(portText);
const config = loadConfig(join(dir, 'deployment/ward.toml'));
const tls = {
  cert: readFileSync(config.server.tls.cert, 'utf8'),
  key: readFileSync(config.server.tls.key, 'utf8'),
  ca: readFileSync(config.server.tls.clientCa, 'utf8'),
};
const body = readFileSync(join(dir, 'static/v1/env/bench/prod'), 'utf8');
const keepAliveTimeout = 65_000;

if (layer === 'https') {
  const server = createServer({ ...tlsOptions(tls), keepAliveTimeout }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.listen(port, '127.0.0.1');
} else if (layer === 'fastify') {
  const app = Fastify({ https: tlsOptions(tls), logger: { level: 'warn' }, keepAliveTimeout, connectionTimeout: 0, requestTimeout: 30_000 });
  const segment = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' };
  app.get('/v1/env/:app/:env', { schema: { params: { type: 'object', required: ['app', 'env'], properties: { app: segment, env: segment } } } }, (_req, reply) => {
    reply.type('application/json; charset=utf-8').send(body);
  });
  await app.listen({ port, host: '127.0.0.1' });
} else if (layer === 'ward-noaudit') {
  if (config.storage.driver !== 'sqlite') throw new Error('the benchmark deployment uses SQLite');
  const store = await openSqliteStore(config.storage.path);
  const app = await buildServer({
    store,
    auditStore: { appendAudit: (entries) => Promise.resolve(entries.map(() => ({ seq: 0 }))) },
    keys: openKeyProvider(config.keys),
    tls,
    trustDomain: config.server.trustDomain,
  });
  await app.listen({ port, host: '127.0.0.1' });
} else {
  throw new Error(`unknown layer ${layer}`);
}
