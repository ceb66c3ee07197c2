/**
 * Secret paths: `APP/ENV/NAME`, each segment matching `[A-Za-z0-9][A-Za-z0-9._-]{0,127}` (so no
 * segment is empty, `.` or `..`, or contains a slash). The server and the CLI validate paths with
 * these helpers before calling the store; the store re-checks and treats a bad path as misuse.
 */
import { WardError } from '../errors.ts';
import type { SecretRef } from './types.ts';

export const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isSegment(s: unknown): s is string {
  return typeof s === 'string' && SEGMENT.test(s);
}

/** Parses `APP/ENV/NAME`. @throws WardError ERR_USAGE on anything else. */
export function parseSecretPath(path: string): SecretRef {
  const parts = path.split('/');
  if (parts.length !== 3 || !parts.every(isSegment)) {
    throw new WardError('ERR_USAGE', 'invalid secret path: expected APP/ENV/NAME', {
      hint: 'each part starts with a letter or digit and uses only letters, digits, ".", "_" and "-" (at most 128)',
    });
  }
  const [app, env, name] = parts as [string, string, string];
  return { app, env, name };
}

export function formatSecretPath(ref: SecretRef): string {
  return `${ref.app}/${ref.env}/${ref.name}`;
}

/** @throws TypeError when a segment is invalid (the caller should have validated it). */
export function assertSegments(...segments: unknown[]): void {
  for (const s of segments) if (!isSegment(s)) throw new TypeError('invalid store path segment');
}
