/**
 * Authorization: who may do what to which `APP/ENV/NAME`, from where. Pure (no I/O), so the whole
 * decision procedure is table-tested (test/server/authz.test.ts).
 *
 * Order of evaluation (the first step that decides wins; docs/api.md, "Authorization"):
 *
 *   1. server-wide source lists (ward.toml [server] allow_sources / deny_sources): a source in the
 *      deny list, or outside a non-empty allow list, is denied — for every identity, admin included;
 *   2. per-policy source lists: the `sources` of every policy with a rule whose identity pattern
 *      matches the caller, same semantics;
 *   3. deny rules of the policies matching (identity, operation, path) — a deny always wins over an
 *      allow; admins are exempt (they may do everything, and could remove the policy anyway);
 *   4. the admin role: allowed;
 *   5. allow rules;
 *   6. built-in: a workload may read and list its own APP/ENV (from its SPIFFE ID);
 *   7. default deny.
 *
 * With no source (policy explain without one), steps 1 and 2 are skipped.
 *
 * Patterns: a path pattern has the segments APP/ENV/NAME; within a segment `*` matches any run of
 * characters other than `/`; a whole segment `**` matches zero or more segments. Identity patterns
 * (SPIFFE IDs) use the same two wildcards over `/`-separated text.
 *
 * Scopes: a batch read (`GET /v1/env/A/E`) and a listing are checked against a scope such as
 * `A/E/*` whose `*` segments stand for "any": an allow rule that could match something inside the
 * scope lets the request through (each item is then checked on its own), while a deny rule denies
 * the scope only when it covers all of it.
 */
import { BlockList, isIP } from 'node:net';

export const OPERATIONS = ['read', 'write', 'list', 'admin'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The caller, as proven by its client certificate. */
export interface Principal {
  spiffeId: string;
  role: 'admin' | 'workload';
  /** The workload's own APP and ENV (from its SPIFFE ID). */
  app: string;
  env: string;
}

export interface PolicyRule {
  name: string;
  effect: 'allow' | 'deny';
  identities: string[];
  operations: Operation[];
  paths: string[];
}

/** A validated policy document (see {@link POLICY_DOCUMENT_SCHEMA}) together with its name. */
export interface Policy {
  name: string;
  rules: PolicyRule[];
  sources?: { allow?: string[]; deny?: string[] };
}

export interface Decision {
  decision: 'allow' | 'deny';
  /** Name of the deciding rule: `POLICY/RULE`, `server:sources`, `builtin:admin`, ... */
  rule: string;
  reason: string;
}

const SEGMENT = '[A-Za-z0-9*][A-Za-z0-9._*-]{0,127}';
const PATTERN_SEGMENT = `(?:\\*\\*|${SEGMENT})`;
const RULE_NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

/** JSON schema of a stored policy document (the body of `PUT /v1/policies/{name}`). */
export const POLICY_DOCUMENT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: {
    description: { type: 'string', maxLength: 1024 },
    sources: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allow: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 64 } },
        deny: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 64 } },
      },
    },
    rules: {
      type: 'array',
      minItems: 1,
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'effect', 'identities', 'operations', 'paths'],
        properties: {
          name: { type: 'string', pattern: RULE_NAME },
          effect: { type: 'string', enum: ['allow', 'deny'] },
          identities: {
            type: 'array',
            minItems: 1,
            maxItems: 64,
            items: { type: 'string', minLength: 1, maxLength: 512, pattern: '^spiffe://[^\\s]+$' },
          },
          operations: { type: 'array', minItems: 1, maxItems: 4, uniqueItems: true, items: { type: 'string', enum: [...OPERATIONS] } },
          paths: {
            type: 'array',
            minItems: 1,
            maxItems: 64,
            items: { type: 'string', maxLength: 400, pattern: `^${PATTERN_SEGMENT}(?:/${PATTERN_SEGMENT}){0,2}$` },
          },
        },
      },
    },
  },
} as const;

// ---------------------------------------------------------------------------------------------
// Source addresses

/** Normalises a socket address: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) becomes plain IPv4. */
export function normaliseAddress(address: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return m ? m[1]! : address;
}

/**
 * Builds a BlockList from CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single addresses.
 * @throws TypeError on a malformed entry (policies are schema- and then semantically validated)
 */
export function cidrList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [addr = '', prefix, extra] = entry.split('/');
    const host = normaliseAddress(addr);
    const family = isIP(host);
    if (family === 0 || extra !== undefined) throw new TypeError(`invalid CIDR ${JSON.stringify(entry)}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const max = family === 4 ? 32 : 128;
    if (prefix === undefined) {
      list.addAddress(host, type);
      continue;
    }
    // An IPv4-mapped IPv6 subnet (::ffff:a.b.c.d/96+n) is the IPv4 subnet a.b.c.d/n.
    const bits = Number(prefix) - (host !== addr ? 96 : 0);
    if (!/^\d{1,3}$/.test(prefix) || bits < 0 || bits > max) throw new TypeError(`invalid CIDR prefix in ${JSON.stringify(entry)}`);
    list.addSubnet(host, bits, type);
  }
  return list;
}

/** An allow list and a deny list of sources; an empty allow list allows every source. */
export interface SourceLists {
  allow: BlockList | null;
  deny: BlockList | null;
}

export function sourceLists(spec: { allow?: readonly string[]; deny?: readonly string[] } | undefined): SourceLists {
  return {
    allow: spec?.allow && spec.allow.length > 0 ? cidrList(spec.allow) : null,
    deny: spec?.deny && spec.deny.length > 0 ? cidrList(spec.deny) : null,
  };
}

function checkSource(lists: SourceLists, source: string): 'deny-listed' | 'not-allow-listed' | null {
  const host = normaliseAddress(source);
  const family = isIP(host);
  // An address we cannot parse matches no allow entry and is refused when an allow list exists.
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (lists.deny && family !== 0 && lists.deny.check(host, type)) return 'deny-listed';
  if (lists.allow && (family === 0 || !lists.allow.check(host, type))) return 'not-allow-listed';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Patterns

function segmentRegex(segment: string): RegExp {
  const body = segment.replace(/[.+?^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '[^/]*');
  return new RegExp(`^${body}$`);
}

interface CompiledPath {
  text: string;
  segments: (RegExp | '**' | '*')[];
}

function compilePath(pattern: string): CompiledPath {
  return {
    text: pattern,
    segments: pattern.split('/').map((s) => (s === '**' ? '**' : s === '*' ? '*' : segmentRegex(s))),
  };
}

/**
 * Matches pattern segments against target segments. A target segment `*` (scopes only) stands for
 * any segment: in 'overlap' mode every pattern segment may match it, in 'cover' mode only `*`/`**`.
 */
function matchSegments(p: CompiledPath['segments'], pi: number, t: readonly string[], ti: number, mode: 'exact' | 'overlap' | 'cover'): boolean {
  if (pi === p.length) return ti === t.length;
  const seg = p[pi]!;
  if (seg === '**') {
    for (let k = ti; k <= t.length; k++) if (matchSegments(p, pi + 1, t, k, mode)) return true;
    return false;
  }
  if (ti === t.length) return false;
  const target = t[ti]!;
  let ok: boolean;
  if (mode !== 'exact' && target === '*') ok = mode === 'overlap' || seg === '*';
  else ok = seg === '*' || seg.test(target);
  return ok && matchSegments(p, pi + 1, t, ti + 1, mode);
}

function compileIdentity(pattern: string): RegExp {
  const body = pattern
    .split('/')
    // A space cannot occur in a pattern (the schema refuses whitespace): it marks `**` here.
    .map((s) => (s === '**' ? ' ' : s.replace(/[.+?^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '[^/]*')))
    .join('/')
    // `a/**/b` also matches `a/b`; a trailing `/**` also matches nothing more.
    .replace(/\/ \//g, '(?:/.*)?/')
    .replace(/\/ $/, '(?:/.*)?')
    .replace(/ /g, '.*');
  return new RegExp(`^${body}$`);
}

// ---------------------------------------------------------------------------------------------
// Compiled policy set

interface CompiledRule {
  id: string;
  effect: 'allow' | 'deny';
  identities: RegExp[];
  operations: ReadonlySet<Operation>;
  paths: CompiledPath[];
}

interface CompiledPolicy {
  name: string;
  identities: RegExp[];
  sources: SourceLists;
}

/** Policies and server-wide source lists compiled once; rebuilt whenever a policy changes. */
export interface Authorizer {
  /** True when some policy has a deny rule (then every item of a batch is checked on its own). */
  readonly hasDenyRules: boolean;
  /** Decides a single path (`APP/ENV/NAME`), or a scope (`APP/ENV/*`, `APP/*\/*`) for batch reads and lists. */
  decide(principal: Principal, op: Operation, path: string, source: string | undefined): Decision;
}

/**
 * Checks a policy document beyond its schema (CIDRs parse) and returns it typed.
 * @throws TypeError naming the bad entry
 */
export function checkPolicy(name: string, document: unknown): Policy {
  const doc = document as Omit<Policy, 'name'>;
  sourceLists(doc.sources);
  const seen = new Set<string>();
  for (const rule of doc.rules) {
    if (seen.has(rule.name)) throw new TypeError(`duplicate rule name ${JSON.stringify(rule.name)}`);
    seen.add(rule.name);
  }
  return { name, rules: doc.rules, ...(doc.sources ? { sources: doc.sources } : {}) };
}

export function buildAuthorizer(policies: readonly Policy[], server: { allow?: readonly string[]; deny?: readonly string[] } = {}): Authorizer {
  const serverSources = sourceLists(server);
  const sorted = [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const compiledPolicies: CompiledPolicy[] = [];
  const rules: CompiledRule[] = [];
  for (const policy of sorted) {
    const policyIdentities: RegExp[] = [];
    for (const rule of policy.rules) {
      const identities = rule.identities.map(compileIdentity);
      policyIdentities.push(...identities);
      rules.push({
        id: `${policy.name}/${rule.name}`,
        effect: rule.effect,
        identities,
        operations: new Set(rule.operations),
        paths: rule.paths.map(compilePath),
      });
    }
    compiledPolicies.push({ name: policy.name, identities: policyIdentities, sources: sourceLists(policy.sources) });
  }
  const denies = rules.filter((r) => r.effect === 'deny');
  const allows = rules.filter((r) => r.effect === 'allow');
  const deny = (rule: string, reason: string): Decision => ({ decision: 'deny', rule, reason });
  const allow = (rule: string, reason: string): Decision => ({ decision: 'allow', rule, reason });

  return {
    hasDenyRules: denies.length > 0,
    decide(principal, op, path, source) {
      const serverVerdict = source === undefined ? null : checkSource(serverSources, source);
      if (serverVerdict) return deny('server:sources', `source ${source} is ${serverVerdict} by the server`);
      for (const p of source === undefined ? [] : compiledPolicies) {
        if (!p.identities.some((re) => re.test(principal.spiffeId))) continue;
        const verdict = checkSource(p.sources, source!);
        if (verdict) return deny(`${p.name}:sources`, `source ${source} is ${verdict} by policy ${p.name}`);
      }
      const target = path.split('/');
      const isScope = target.includes('*');
      const applies = (r: CompiledRule, mode: 'exact' | 'overlap' | 'cover') =>
        r.operations.has(op) && r.identities.some((re) => re.test(principal.spiffeId)) && r.paths.some((p) => matchSegments(p.segments, 0, target, 0, mode));
      if (principal.role !== 'admin') {
        const d = denies.find((r) => applies(r, isScope ? 'cover' : 'exact'));
        if (d) return deny(d.id, `rule ${d.id} denies ${op} on ${path}`);
      } else {
        return allow('builtin:admin', 'the admin role may do everything');
      }
      const a = allows.find((r) => applies(r, isScope ? 'overlap' : 'exact'));
      if (a) return allow(a.id, `rule ${a.id} allows ${op} on ${path}`);
      if ((op === 'read' || op === 'list') && target.length === 3 && target[0] === principal.app && target[1] === principal.env) {
        return allow('builtin:own-env', `a workload may ${op} its own ${principal.app}/${principal.env}`);
      }
      return deny('builtin:default-deny', `no rule allows ${op} on ${path}`);
    },
  };
}
