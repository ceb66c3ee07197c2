/**
 * Keyset pagination shared by the store implementations: the cursor is the opaque base64url of the
 * JSON array of the last row's sort key — [app, env, name] for secrets, [issued_at, serial] for
 * certificates — and the next page starts strictly after it in that order. Unlike an offset, it
 * neither skips nor repeats rows when rows are added or removed between pages.
 */
import { WardError } from '../errors.ts';
import { isSegment } from './paths.ts';
import type { Page, SecretRef } from './types.ts';

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

/** The JSON inside a cursor; ERR_API_BAD_REQUEST when it is not base64url of JSON. */
function cursorJson(cursor: string): unknown {
  try {
    if (!/^[A-Za-z0-9_-]{1,1400}$/.test(cursor)) throw new Error('not base64url');
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(cursor, 'base64url')));
  } catch (e) {
    throw new WardError('ERR_API_BAD_REQUEST', 'invalid page cursor', { cause: e });
  }
}

/** @throws WardError ERR_API_BAD_REQUEST when the cursor was not made by {@link encodeCursor}. */
export function decodeCursor(cursor: string): SecretRef {
  const parsed = cursorJson(cursor);
  if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every(isSegment)) {
    throw new WardError('ERR_API_BAD_REQUEST', 'invalid page cursor');
  }
  const [app, env, name] = parsed as [string, string, string];
  return { app, env, name };
}

/** Sort key of the certificate listing: issue time, then serial (unique). */
export interface CertificateKey {
  issuedAt: number;
  serial: string;
}

export function encodeCertificateCursor(key: CertificateKey): string {
  return Buffer.from(JSON.stringify([key.issuedAt, key.serial]), 'utf8').toString('base64url');
}

/** @throws WardError ERR_API_BAD_REQUEST when the cursor was not made by {@link encodeCertificateCursor}. */
export function decodeCertificateCursor(cursor: string): CertificateKey {
  const parsed = cursorJson(cursor);
  if (!Array.isArray(parsed) || parsed.length !== 2) throw new WardError('ERR_API_BAD_REQUEST', 'invalid page cursor');
  const [issuedAt, serial] = parsed as unknown[];
  if (!Number.isSafeInteger(issuedAt) || typeof serial !== 'string' || serial.length === 0 || serial.length > 256) {
    throw new WardError('ERR_API_BAD_REQUEST', 'invalid page cursor');
  }
  return { issuedAt: issuedAt as number, serial };
}

/** A page from up to `limit` + 1 rows in key order: the extra row only says there is a next page. */
export function certificatePage<T extends CertificateKey>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last !== undefined ? encodeCertificateCursor(last) : null };
}

/**
 * Where a filtered listing resumes. `prefix` holds the values the filter fixes, in key order
 * (app, or app and env); the query is then equality on that index prefix plus `bound`: a lower
 * bound (exclusive) on the remaining key columns, empty for none. Null: the cursor lies past
 * every row the filter can match, so the page is empty.
 */
export function resumeAfter(prefix: readonly string[], after: SecretRef | null): { bound: string[] } | null {
  if (after === null) return { bound: [] };
  const key = [after.app, after.env, after.name];
  for (let i = 0; i < prefix.length; i++) {
    const k = key[i] as string;
    const p = prefix[i] as string;
    // segments are ASCII, so code-unit order is SQLite's BINARY (byte) order
    if (k < p) return { bound: [] };
    if (k > p) return null;
  }
  return { bound: key.slice(prefix.length) };
}
