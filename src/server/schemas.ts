/**
 * JSON schemas of the v1 API (docs/api.md): every route validates params, query and body with
 * these (Ajv with removeAdditional: false and coerceTypes: false, so bad input is refused, never
 * fixed up) and serializes its answers through a response schema, which also keeps undeclared
 * fields from leaking. docs/openapi.json is generated from the same objects.
 *
 * Query strings are strings: numbers and booleans in a query are pattern-checked strings that the
 * handler converts.
 */
import { POLICY_DOCUMENT_SCHEMA } from './authz.ts';

export const SEGMENT_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
const segment = { type: 'string', pattern: SEGMENT_PATTERN } as const;
const uint = { type: 'integer', minimum: 0, maximum: 4294967295 } as const;
const version = { type: 'integer', minimum: 1, maximum: 4294967295 } as const;
const time = { type: 'integer', minimum: 0, description: 'milliseconds since the epoch' } as const;
const nullableTime = { type: ['integer', 'null'], minimum: 0 } as const;
const kind = { type: 'string', enum: ['env', 'file'] } as const;

/** Largest secret value: 768 KiB, i.e. 1 MiB of base64. */
export const MAX_VALUE_BYTES = 768 * 1024;
/** Largest request body of a secret write: the base64 of the largest value plus 4 KiB for the rest. */
export const SECRET_BODY_LIMIT = (MAX_VALUE_BYTES / 3) * 4 + 4096;
/** Largest request body of every other route. */
export const SMALL_BODY_LIMIT = 64 * 1024;
/** Longest base64 `value`. */
export const MAX_VALUE_BASE64 = (MAX_VALUE_BYTES / 3) * 4;

const base64 = { type: 'string', maxLength: MAX_VALUE_BASE64, pattern: '^[A-Za-z0-9+/]*={0,2}$', description: 'base64 (standard alphabet, padded)' } as const;

export const errorBody = {
  $id: 'WardErrorBody',
  type: 'object',
  additionalProperties: false,
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message'],
      properties: { code: { type: 'string', pattern: '^ERR_[A-Z0-9_]+$' }, message: { type: 'string' } },
    },
  },
} as const;

/** Error answers every route may give (docs/errors.md). */
export const errorResponses = {
  '4xx': { description: 'request refused; see docs/errors.md', $ref: 'WardErrorBody#' },
  '5xx': { description: 'server failure or unavailable (audit log not writable, shutting down)', $ref: 'WardErrorBody#' },
} as const;

function obj(properties: Record<string, unknown>, required: string[] = Object.keys(properties)) {
  return { type: 'object', additionalProperties: false, required, properties } as const;
}

export const secretParams = obj({ app: segment, env: segment, name: segment });
export const envParams = obj({ app: segment, env: segment });

export const secretValue = obj({
  app: segment,
  env: segment,
  name: segment,
  version,
  kind,
  sealed: { type: 'boolean' },
  createdAt: time,
  value: { type: 'string', description: 'base64 of the value' },
});

export const envBatch = obj({
  app: segment,
  env: segment,
  revision: uint,
  secrets: {
    type: 'array',
    items: obj({ name: segment, version, kind, sealed: { type: 'boolean' }, value: { type: 'string', description: 'base64 of the value' } }),
  },
});

export const readQuery = obj({ version: { type: 'string', pattern: '^[1-9][0-9]{0,9}$' } }, []);

export const putBody = obj(
  {
    value: base64,
    cas: { ...uint, description: 'check-and-set: the current version must equal this (0: the secret must not exist)' },
    kind,
    sealed: { type: 'boolean', description: 'the value is ciphertext for the app (zero-knowledge); the server cannot read it' },
  },
  ['value'],
);

export const versionAnswer = obj({ version });

/** Keyset paging of a listing: the opaque cursor of the previous answer's `next`, and a page size. */
const pageCursor = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,1400}$' };
const pageLimit = { type: 'string', pattern: '^[1-9][0-9]{0,3}$', description: '1..1000 (default 100)' };

export const listQuery = obj(
  {
    app: segment,
    env: segment,
    cursor: pageCursor,
    limit: pageLimit,
    deleted: { type: 'string', enum: ['true', 'false'], description: 'include soft-deleted secrets (admin only)' },
  },
  [],
);

export const listAnswer = obj({
  items: {
    type: 'array',
    items: obj({
      app: segment,
      env: segment,
      name: segment,
      currentVersion: version,
      kind,
      sealed: { type: 'boolean' },
      createdAt: time,
      updatedAt: time,
      deletedAt: nullableTime,
    }),
  },
  next: { type: ['string', 'null'] },
});

export const historyAnswer = obj({
  versions: {
    type: 'array',
    items: obj({ version, createdAt: time, createdBy: { type: 'string' }, kind, sealed: { type: 'boolean' }, destroyedAt: nullableTime }),
  },
});

export const destroyBody = obj({ versions: { type: 'array', minItems: 1, maxItems: 1000, uniqueItems: true, items: version } }, []);
export const rollbackBody = obj({ version });

export const policyName = obj({ name: segment });
export const policyBody = obj({ document: POLICY_DOCUMENT_SCHEMA });
export const policiesAnswer = obj({
  policies: {
    type: 'array',
    items: obj({ name: segment, document: POLICY_DOCUMENT_SCHEMA, updatedAt: time, updatedBy: { type: 'string' } }),
  },
});

export const explainBody = obj(
  {
    spiffeId: { type: 'string', minLength: 1, maxLength: 2048 },
    path: { type: 'string', maxLength: 400, pattern: '^[A-Za-z0-9*][A-Za-z0-9._*-]{0,127}/[A-Za-z0-9*][A-Za-z0-9._*-]{0,127}/[A-Za-z0-9*][A-Za-z0-9._*-]{0,127}$' },
    operation: { type: 'string', enum: ['read', 'write', 'list', 'admin'] },
    source: { type: 'string', maxLength: 64, description: 'source address to evaluate IP lists for; omitted: IP lists are not evaluated' },
  },
  ['spiffeId', 'path', 'operation'],
);
export const explainAnswer = obj({ decision: { type: 'string', enum: ['allow', 'deny'] }, rule: { type: 'string' }, reason: { type: 'string' } });

export const certificateRecord = obj({
  serial: { type: 'string' },
  name: { type: 'string' },
  spiffeId: { type: 'string' },
  app: { type: 'string' },
  env: { type: 'string' },
  role: { type: 'string', enum: ['admin', 'workload', 'server'] },
  notBefore: time,
  notAfter: time,
  fingerprint: { type: 'string' },
  issuedAt: time,
  revokedAt: nullableTime,
});

export const certsQuery = obj({ cursor: pageCursor, limit: pageLimit }, []);
export const certsAnswer = obj({ certificates: { type: 'array', items: certificateRecord }, next: { type: ['string', 'null'] } });

export const issueBody = obj(
  {
    name: segment,
    app: segment,
    env: segment,
    role: { type: 'string', enum: ['workload', 'admin'] },
    ttl: { type: 'integer', minimum: 60, maximum: 3153600000, description: 'lifetime in seconds (default 720h)' },
    csr: { type: 'string', minLength: 1, maxLength: 8192, description: 'PEM PKCS#10 request; the private key stays with the caller' },
  },
  ['name', 'role', 'csr'],
);
export const issueAnswer = obj({ certificate: { type: 'string' }, ca: { type: 'string' }, serial: { type: 'string' }, spiffeId: { type: 'string' }, notAfter: time });
export const certRef = obj({ serialOrName: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' } });

export const auditQuery = obj(
  {
    after: { type: 'string', pattern: '^(0|[1-9][0-9]{0,15})$' },
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$', description: '1..1000 (default 100)' },
    wait: { type: 'string', pattern: '^([0-9]|[12][0-9]|30)$', description: 'seconds to wait for newer records (0..30)' },
  },
  [],
);
const auditRecord = obj(
  {
    seq: { type: 'integer', minimum: 1 },
    time,
    identity: { type: 'string' },
    serial: { type: 'string' },
    source: { type: 'string' },
    operation: { type: 'string' },
    path: { type: 'string' },
    outcome: { type: 'string' },
    detail: { type: 'string' },
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
  ['seq', 'time', 'identity', 'serial', 'source', 'operation', 'path', 'outcome', 'prevHash', 'hash'],
);
export const auditAnswer = obj({ records: { type: 'array', items: auditRecord } });
export const verifyAnswer = obj(
  { ok: { type: 'boolean' }, count: uint, firstBad: { type: 'integer' }, reason: { type: 'string' } },
  ['ok', 'count'],
);

export const whoamiAnswer = obj(
  {
    spiffeId: { type: 'string' },
    role: { type: 'string', enum: ['admin', 'workload'] },
    app: segment,
    env: segment,
    serial: { type: 'string' },
  },
  ['spiffeId', 'role', 'serial'],
);

export const flagAnswer = (key: string) => obj({ [key]: { type: 'boolean', const: true } });
export const countAnswer = (key: string) => obj({ [key]: uint });
export const nameAnswer = obj({ name: segment });

/** An object with a single required member. */
export const obj1 = (key: string, schema: unknown) => obj({ [key]: schema });
