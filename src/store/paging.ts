/**
 * Keyset pagination shared by the store implementations: the cursor is the opaque base64url of the
 * JSON array [app, env, name] of the last row returned, and the next page starts strictly after it
 * in (app, env, name) order. Unlike an offset, it neither skips nor repeats rows when secrets are
 * added or removed between pages.
 */
import { WardError } from '../errors.ts';
import type { SecretRef } from './types.ts';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** Clamps a requested page size to 1..1000 (default 100). */
export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || Number.isNaN(limit)) return DEFAULT_PAGE_LIMIT;
  return Math.min(MAX_PAGE_LIMIT, Math.max(1, Math.floor(limit)));
}

export function encodeCursor(ref: SecretRef): string {
  return Buffer.from(JSON.stringify([ref.app, ref.env, ref.name]), 'utf8').toString('base64url');
}

/** @throws WardError ERR_API_BAD_REQUEST when the cursor was not made by {@link encodeCursor}. */
export function decodeCursor(cursor: string): SecretRef {
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]{1,1400}$/.test(cursor)) throw new Error('not base64url');
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(cursor, 'base64url')));
  } catch (e) {
    throw new WardError('ERR_API_BAD_REQUEST', 'invalid page cursor', { cause: e });
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every((p) => typeof p === 'string')) {
    throw new WardError('ERR_API_BAD_REQUEST', 'invalid page cursor');
  }
  const [app, env, name] = parsed as [string, string, string];
  return { app, env, name };
}
