/**
 * One-time enrolment tokens (docs/enrol.md).
 *
 *   token = "wet1_" base64url(32 random bytes)          (48 characters, 256 bits)
 *
 * The server stores only SHA-256(token) (hex) with the APP/ENV it grants, an expiry, optional
 * source CIDR ranges and whether it was used; the token itself is shown once to the operator and
 * never logged. The store looks tokens up by hash, so no comparison ever runs on the secret
 * itself; the hash the store returns is still compared with timingSafeEqual.
 *
 * Redeeming checks, in order: known, unused, unexpired, source inside the CIDR ranges. Each
 * refusal has a reason for the audit log; the caller gets one answer for all (ERR_TOKEN_INVALID).
 * An out-of-range attempt does not burn the token; the atomic consume at the end makes
 * concurrent redeemers of one token get it exactly once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { WardError } from '../errors.ts';
import type { EnrolmentToken, Store } from '../store/types.ts';
import { cidrList, normaliseAddress } from './authz.ts';

export const TOKEN_PREFIX = 'wet1_';
export const TOKEN_PATTERN = '^wet1_[A-Za-z0-9_-]{43}$';
/** Default and largest lifetime of a token. */
export const DEFAULT_TOKEN_TTL_MS = 15 * 60_000;
export const MAX_TOKEN_TTL_MS = 30 * 24 * 3_600_000;
export const MAX_TOKEN_CIDRS = 16;

export type RefusalReason = 'unknown' | 'reused' | 'expired' | 'out-of-cidr' | 'invalid';

/** A refused redemption: the reason goes to the audit log, never to the caller. */
export class TokenRefused extends WardError {
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason) {
    super('ERR_TOKEN_INVALID', 'enrolment token is invalid, used or expired', { hint: 'ask the operator for a new token (ward token create)' });
    this.reason = reason;
  }
}

export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Checks source ranges given by an operator; IPs and CIDRs. @throws WardError ERR_API_BAD_REQUEST */
export function checkCidrs(cidrs: readonly string[]): string[] {
  try {
    cidrList(cidrs);
  } catch (e) {
    throw new WardError('ERR_API_BAD_REQUEST', (e as Error).message);
  }
  return [...cidrs];
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}

function inRanges(cidrs: readonly string[], source: string): boolean {
  if (cidrs.length === 0) return true;
  const address = normaliseAddress(source);
  const family = isIP(address);
  if (family === 0) return false;
  return cidrList(cidrs).check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Looks a presented token up and checks it without consuming it.
 * @throws TokenRefused
 */
export async function checkToken(store: Store, token: string, source: string, now: number): Promise<EnrolmentToken> {
  const hash = hashToken(token);
  if (!store.findToken) return { hash, app: '', env: '', cidrs: [], expiresAt: Infinity, createdAt: 0, createdBy: '', usedAt: null };
  const found = await store.findToken(hash);
  if (!found || !sameHash(found.hash, hash)) throw new TokenRefused('unknown');
  if (found.usedAt !== null) throw new TokenRefused('reused');
  if (now >= found.expiresAt) throw new TokenRefused('expired');
  if (!inRanges(found.cidrs, source)) throw new TokenRefused('out-of-cidr');
  return found;
}

/**
 * Marks the token used (exactly once among concurrent callers) and returns its record.
 * @throws TokenRefused
 */
export async function consumeToken(store: Store, token: string, source: string, now: number): Promise<EnrolmentToken> {
  const hash = hashToken(token);
  const used = await store.consumeToken(hash, now);
  if (!used || !sameHash(used.hash, hash)) throw new TokenRefused(store.findToken ? 'reused' : 'invalid');
  // without findToken the range check could not run before: it runs now (the token is spent)
  if (!inRanges(used.cidrs, source)) throw new TokenRefused('out-of-cidr');
  return used;
}
