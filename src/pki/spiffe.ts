/**
 * SPIFFE IDs as Ward uses them (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md).
 *
 *   spiffe-id   = "spiffe://" trust-domain path
 *   trust-domain = [a-z0-9] [a-z0-9._-]{0,254}          (SPIFFE: lowercase letters, digits, . - _)
 *   workload    = "/app/" segment "/env/" segment "/" segment        (app, env, instance)
 *   admin       = "/admin/" segment                                  (operator name)
 *   segment     = [A-Za-z0-9] [A-Za-z0-9._-]{0,127}
 *
 * WARD: stricter than SPIFFE, which allows any path of unreserved characters; only the two shapes
 * above are identities Ward issues and accepts. Total length is capped at 2048 bytes (SPIFFE's
 * recommended maximum) implicitly by the segment bounds.
 */
import { WardError } from '../errors.ts';

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const TRUST_DOMAIN = /^[a-z0-9][a-z0-9._-]{0,254}$/;
const SCHEME = 'spiffe://';

/** A parsed Ward SPIFFE ID. */
export type SpiffeId =
  | { trustDomain: string; kind: 'workload'; app: string; env: string; instance: string }
  | { trustDomain: string; kind: 'admin'; name: string };

function invalid(message: string): WardError {
  return new WardError('ERR_PKI_INVALID_SPIFFE_ID', message, {
    hint: 'names may use letters, digits, ".", "_" and "-", start with a letter or digit, and be at most 128 characters',
  });
}

/** True when `s` is a valid path segment (app, env, instance or admin name). */
export function isValidSegment(s: string): boolean {
  return SEGMENT.test(s);
}

/**
 * Checks one segment and returns it.
 * @throws WardError ERR_PKI_INVALID_SPIFFE_ID naming `what` (e.g. "app")
 */
export function checkSegment(s: string, what: string): string {
  if (!SEGMENT.test(s)) throw invalid(`invalid ${what} ${JSON.stringify(s.slice(0, 140))}`);
  return s;
}

/**
 * Checks a trust domain (lowercase DNS-like name) and returns it.
 * @throws WardError ERR_PKI_INVALID_SPIFFE_ID
 */
export function checkTrustDomain(td: string): string {
  if (!TRUST_DOMAIN.test(td) || td.includes('..') || td.endsWith('.')) {
    throw new WardError('ERR_PKI_INVALID_SPIFFE_ID', `invalid trust domain ${JSON.stringify(td.slice(0, 260))}`, {
      hint: 'a trust domain uses lowercase letters, digits, ".", "_" and "-", e.g. ward.local or prod.example.com',
    });
  }
  return td;
}

/**
 * Formats a SPIFFE ID, validating every part.
 * @throws WardError ERR_PKI_INVALID_SPIFFE_ID
 */
export function formatSpiffeId(id: SpiffeId): string {
  const td = checkTrustDomain(id.trustDomain);
  if (id.kind === 'admin') return `${SCHEME}${td}/admin/${checkSegment(id.name, 'admin name')}`;
  if (id.kind === 'workload') {
    return `${SCHEME}${td}/app/${checkSegment(id.app, 'app')}/env/${checkSegment(id.env, 'env')}/${checkSegment(id.instance, 'instance')}`;
  }
  throw new TypeError('formatSpiffeId: kind must be "workload" or "admin"');
}

/**
 * Parses a Ward SPIFFE ID strictly: exact scheme, valid trust domain, one of the two path shapes,
 * no query, fragment, port, user info, percent-encoding or trailing slash.
 * @throws WardError ERR_PKI_INVALID_SPIFFE_ID
 */
export function parseSpiffeId(uri: string): SpiffeId {
  if (typeof uri !== 'string') throw new TypeError('parseSpiffeId: uri must be a string');
  if (uri.length > 2048 || !uri.startsWith(SCHEME)) throw invalid('not a spiffe:// ID');
  const rest = uri.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  if (slash < 0) throw invalid('SPIFFE ID has no path');
  const trustDomain = checkTrustDomain(rest.slice(0, slash));
  const parts = rest.slice(slash + 1).split('/');
  if (parts.length === 2 && parts[0] === 'admin') {
    return { trustDomain, kind: 'admin', name: checkSegment(parts[1]!, 'admin name') };
  }
  if (parts.length === 5 && parts[0] === 'app' && parts[2] === 'env') {
    return {
      trustDomain,
      kind: 'workload',
      app: checkSegment(parts[1]!, 'app'),
      env: checkSegment(parts[3]!, 'env'),
      instance: checkSegment(parts[4]!, 'instance'),
    };
  }
  throw invalid('SPIFFE ID path is neither /app/APP/env/ENV/INSTANCE nor /admin/NAME');
}

/** The SPIFFE ID of a trust domain itself (carried by the CA certificate): `spiffe://<td>`. */
export function trustDomainId(trustDomain: string): string {
  return `${SCHEME}${checkTrustDomain(trustDomain)}`;
}
