/**
 * Pure argument parsing for the operator commands: text in, typed request out, WardError
 * ERR_USAGE (exit 2) for anything malformed. No I/O, so it is table-tested.
 */
import { WardError } from '../../errors.ts';
import { parseDuration, usageError } from '../args.ts';
import type { Operation, SecretPath } from '../../client/admin.ts';

/** APP, ENV and NAME: the server's path segment grammar (docs/api.md). */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function segment(text: string, what: string, whole: string): string {
  if (!SEGMENT.test(text)) {
    throw usageError(`invalid ${what} ${JSON.stringify(text.slice(0, 140))} in ${JSON.stringify(whole.slice(0, 400))}`,
      'APP, ENV and NAME use letters, digits, ".", "_" and "-", start with a letter or digit, at most 128 characters');
  }
  return text;
}

/** `APP/ENV/NAME`. */
export function parseSecretPath(text: string): SecretPath {
  const parts = text.split('/');
  if (parts.length !== 3) throw usageError(`expected APP/ENV/NAME, not ${JSON.stringify(text.slice(0, 400))}`);
  return { app: segment(parts[0]!, 'app', text), env: segment(parts[1]!, 'env', text), name: segment(parts[2]!, 'name', text) };
}

/** `APP` or `APP/ENV` (a listing scope); empty means everything. */
export function parseScope(text: string | undefined): { app?: string; env?: string } {
  if (text === undefined || text === '') return {};
  const parts = text.replace(/\/$/, '').split('/');
  if (parts.length > 2) throw usageError(`expected APP or APP/ENV, not ${JSON.stringify(text.slice(0, 400))}`, 'to read one secret use `ward secret get APP/ENV/NAME`');
  const app = segment(parts[0]!, 'app', text);
  return parts.length === 2 ? { app, env: segment(parts[1]!, 'env', text) } : { app };
}

/** A positive version number (or, with `allowZero`, 0: the `--cas 0` "must not exist yet"). */
export function parseVersion(text: string, flag: string, allowZero = false): number {
  const n = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < (allowZero ? 0 : 1)) {
    throw usageError(`invalid ${flag} ${JSON.stringify(text.slice(0, 40))}`, allowZero ? 'a version number, or 0 for "must not exist yet"' : 'versions count from 1');
  }
  return n;
}

/** `--role client|admin` to the API's role names. */
export function parseRole(text: string): 'workload' | 'admin' {
  if (text === 'client' || text === 'workload') return 'workload';
  if (text === 'admin') return 'admin';
  throw usageError(`invalid --role ${JSON.stringify(text.slice(0, 40))}`, 'use --role client (a workload) or --role admin');
}

/** `--ttl 720h` to whole seconds (the API's unit). */
export function parseTtl(text: string): number {
  const ms = parseDuration(text, '--ttl');
  if (ms < 60_000 || ms % 1000 !== 0) throw usageError(`invalid --ttl ${JSON.stringify(text)}`, 'a certificate lives at least 1m, in whole seconds');
  return ms / 1000;
}

const OPERATIONS: readonly Operation[] = ['read', 'write', 'list', 'admin'];

export function parseOperation(text: string): Operation {
  if ((OPERATIONS as readonly string[]).includes(text)) return text as Operation;
  throw usageError(`invalid --op ${JSON.stringify(text.slice(0, 40))}`, `one of ${OPERATIONS.join(', ')}`);
}

/** A certificate name: one SPIFFE segment (the workload instance or admin name). */
export function parseCertName(text: string): string {
  if (!SEGMENT.test(text)) throw usageError(`invalid certificate name ${JSON.stringify(text.slice(0, 140))}`, 'letters, digits, ".", "_" and "-", at most 128 characters');
  return text;
}

/** A policy name: the server's segment grammar. */
export function parsePolicyName(text: unknown, where: string): string {
  if (typeof text !== 'string' || !SEGMENT.test(text)) {
    throw new WardError('ERR_USAGE', `${where}: policy name must be letters, digits, ".", "_" or "-" (at most 128)`, { hint: 'set "name" in the file or pass --name' });
  }
  return text;
}
