/**
 * The OpenAPI 3.1 description of the v1 API, generated from the route schemas themselves (so it
 * cannot drift from what the server validates). Served at GET /v1/openapi.json and committed as
 * docs/openapi.json; test/server/openapi.test.ts fails when the two differ
 * (`WARD_WRITE_OPENAPI=1 node --test test/server/openapi.test.ts` rewrites the file).
 */
import { errorBody } from './schemas.ts';

type Json = Record<string, unknown>;

export interface RouteSchema {
  method: string;
  url: string;
  schema: Json;
}

/** Records the schema of every route as fastify registers it (an onRoute hook). */
export function collectRoute(routes: RouteSchema[], route: { method: string | string[]; url: string; schema?: unknown }): void {
  if (!route.schema || !route.url.startsWith('/v1/')) return;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  for (const method of methods) if (method !== 'HEAD') routes.push({ method: method.toLowerCase(), url: route.url, schema: route.schema as Json });
}

/** Rewrites fastify's `$ref: 'WardErrorBody#'` into an OpenAPI component reference. */
function refs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(refs);
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) out[k] = k === '$ref' && v === 'WardErrorBody#' ? '#/components/schemas/WardErrorBody' : refs(v);
  return out;
}

function parameters(schema: Json | undefined, where: 'path' | 'query' | 'header'): Json[] {
  if (!schema) return [];
  const props = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => ({ name, in: where, required: where === 'path' || required.has(name), schema: s }));
}

export function buildOpenApi(routes: readonly RouteSchema[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  const sorted = [...routes].sort((a, b) => (a.url === b.url ? (a.method < b.method ? -1 : 1) : a.url < b.url ? -1 : 1));
  for (const r of sorted) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const responses: Json = {};
    for (const [status, schema] of Object.entries((r.schema.response ?? {}) as Record<string, Json>)) {
      const { description, ...body } = schema;
      responses[status.toUpperCase()] = {
        description: typeof description === 'string' ? description : 'OK',
        content: { 'application/json': { schema: refs(body) } },
      };
    }
    const op: Json = {
      summary: r.schema.summary,
      parameters: [
        ...parameters(r.schema.params as Json | undefined, 'path'),
        ...parameters(r.schema.querystring as Json | undefined, 'query'),
        ...parameters(r.schema.headers as Json | undefined, 'header'),
      ],
      responses,
    };
    if (r.schema.body) op.requestBody = { required: true, content: { 'application/json': { schema: refs(r.schema.body) } } };
    (paths[path] ??= {})[r.method] = op;
  }
  const { $id: _id, ...errorSchema } = errorBody;
  return {
    openapi: '3.1.0',
    info: {
      title: 'Ward API',
      version,
      description: 'Secret store API over mutual TLS (TLS 1.3, client certificate required). See docs/api.md and docs/errors.md.',
    },
    paths,
    components: { schemas: { WardErrorBody: errorSchema } },
  };
}
