/**
 * Importing configuration sealed to the server (GitOps, docs/sealed.md): a per-value encrypted
 * .env/TOML/YAML/JSON file (`ward env|config encrypt -r <server recipient>`) is opened with the
 * server's identity (import-identity.ts) and each value stored as a secret.
 *
 *   - with a target APP/ENV, every key path of the file names a secret (`DB_PASSWORD`, or
 *     `db.password` for a nested key);
 *   - without one (TOML), each top-level table is an APP/ENV: `["shop/prod"]` or `[shop.prod]`,
 *     holding NAME = value pairs, so one file feeds several environments.
 *
 * A value equal to the stored one is left alone, so importing the same file again (at every start
 * of a server with `[server] import_dir`) writes no new versions.
 */
import { WardError } from '../errors.ts';
import type { Identity } from '../formats/age/index.ts';
import { decryptValueFileEntries, displayPath, type Segment, type ValueFileFormat } from '../formats/valuefile/index.ts';
import { isValidSegment } from '../pki/spiffe.ts';
import type { SecretRef } from '../store/types.ts';
import type { ServerContext } from './app.ts';
import { openVersion, writeSecret } from './routes/secrets.ts';

export interface ImportedValue {
  ref: SecretRef;
  value: Buffer;
}

export interface ImportResult {
  /** New versions written. */
  written: number;
  /** Values equal to the stored ones (nothing written). */
  unchanged: number;
  /** The APP/ENV scopes the file fed, sorted. */
  envs: string[];
}

const syntax = (message: string, hint: string) => new WardError('ERR_VALUEFILE_SYNTAX', message, { hint });

/** The APP/ENV and NAME a key path stands for. */
function refOf(path: readonly Segment[], target: { app: string; env: string } | undefined): SecretRef {
  if (target) {
    const name = displayPath(path);
    if (!isValidSegment(name)) throw syntax(`key ${JSON.stringify(name.slice(0, 140))} is not a valid secret name`, 'secret names use letters, digits, ".", "_" and "-" (at most 128)');
    return { ...target, name };
  }
  const parts = path.map(String);
  const scope = parts.length === 2 ? parts[0]!.split('/') : parts.length === 3 ? parts.slice(0, 2) : [];
  const name = parts.at(-1)!;
  if (scope.length !== 2 || !scope.every(isValidSegment) || !isValidSegment(name) || path.some((p) => typeof p === 'number')) {
    throw syntax(`key ${JSON.stringify(displayPath(path).slice(0, 140))} is not NAME in a table per APP/ENV`, 'without --app/--env, use a TOML file with one table per APP/ENV: ["shop/prod"] then NAME = "value" lines');
  }
  return { app: scope[0]!, env: scope[1]!, name };
}

/**
 * Decrypts an import file and maps each value to its secret. Values are zeroed on failure.
 * @throws WardError ERR_VALUEFILE_* (bad or tampered file), ERR_AGE_NO_IDENTITY_MATCH (not sealed
 *   to this server), ERR_VALUEFILE_SYNTAX (a key that names no secret)
 */
export async function openImport(text: string, format: ValueFileFormat, identity: Identity, target?: { app: string; env: string }): Promise<ImportedValue[]> {
  if (target === undefined && format !== 'toml') throw syntax('only a TOML file can name its APP/ENV tables itself', 'pass --app and --env, or use a TOML file with one table per APP/ENV');
  const entries = await decryptValueFileEntries(text, format, [identity]);
  try {
    const seen = new Set<string>();
    return entries.map((e) => {
      const ref = refOf(e.path, target);
      const key = `${ref.app}/${ref.env}/${ref.name}`;
      if (seen.has(key)) throw syntax(`${key} appears twice in the file`, 'each secret once');
      seen.add(key);
      return { ref, value: e.plaintext };
    });
  } catch (e) {
    for (const v of entries) v.plaintext.fill(0);
    throw e;
  }
}

/** Stores imported values (each zeroed afterwards); a value equal to the stored one writes nothing. */
export async function storeImport(ctx: ServerContext, values: readonly ImportedValue[], createdBy: string): Promise<ImportResult> {
  const result: ImportResult = { written: 0, unchanged: 0, envs: [] };
  const envs = new Set<string>();
  try {
    for (const { ref, value } of values) {
      envs.add(`${ref.app}/${ref.env}`);
      const current = await ctx.store.getSecret(ref);
      if (current && !current.sealed && current.destroyedAt === null) {
        const old = await openVersion(ctx, current);
        const same = old.equals(value);
        old.fill(0);
        if (same) {
          result.unchanged += 1;
          continue;
        }
      }
      await writeSecret(ctx, ref, Buffer.from(value), { kind: current?.kind ?? 'env', sealed: false, createdBy });
      result.written += 1;
    }
  } finally {
    for (const v of values) v.value.fill(0);
  }
  result.envs = [...envs].sort();
  return result;
}
