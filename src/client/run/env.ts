/**
 * Builds the application's environment from the fetched secrets (`ward run`).
 *
 * Rules (docs/run.md):
 * - each `env` secret NAME becomes a variable: NAME itself when it is a valid variable name
 *   (`[A-Za-z_][A-Za-z0-9_]*`), else every other character becomes `_` and a leading digit gets a
 *   `_` prefix (`db.password` → `db_password`, `1key` → `_1key`); two secrets mapping to one name
 *   is an error;
 * - a variable already set in Ward's own environment wins unless `override` is set;
 * - a variable (inherited or from a secret) whose value is `ward:APP/ENV/NAME` is replaced by that
 *   secret's value;
 * - `ENCRYPTED_<NAME>` variables are decrypted (Secure Store format) with the secret
 *   `STORE_PASSWORD` and exposed as `<NAME>`; the `ENCRYPTED_` variable itself is removed.
 */
import { WardError } from '../../errors.ts';
import { decryptSecureStoreValue, ENCRYPTED_PREFIX, STORE_PASSWORD } from '../../formats/securestore/index.ts';

export interface FetchedSecret {
  name: string;
  value: Buffer;
  kind: 'env' | 'file';
}

export interface EnvOptions {
  override: boolean;
  /**
   * Resolves `ward:APP/ENV/NAME` references (`variable` is the one being resolved, for messages);
   * undefined when the secret is not available. May throw a more precise WardError itself.
   */
  resolve: (ref: string, variable: string) => Buffer | undefined;
  /**
   * `--allow-missing`: when given, a reference that cannot be resolved or a value that cannot be
   * decrypted is reported here and its variable left out, instead of failing.
   */
  onMissing?: (variable: string, error: WardError) => void;
}

const VALID = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const REFERENCE = /^ward:([A-Za-z0-9][A-Za-z0-9._-]{0,127}\/[A-Za-z0-9][A-Za-z0-9._-]{0,127}\/[A-Za-z0-9][A-Za-z0-9._-]{0,127})$/;

export function envName(secretName: string): string {
  if (VALID.test(secretName)) return secretName;
  const mapped = secretName.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(mapped) ? `_${mapped}` : mapped;
}

function text(variable: string, value: Buffer): string {
  if (value.includes(0)) throw new WardError('ERR_RUN_VALUE', `${variable} cannot be an environment variable: its value contains a NUL byte`, { hint: 'store it as a file secret instead' });
  return value.toString('utf8');
}

/** References used by inherited variables, so the caller can fetch them before {@link buildEnv}. */
export function inheritedRefs(base: NodeJS.ProcessEnv): string[] {
  const refs: string[] = [];
  for (const value of Object.values(base)) {
    const m = value === undefined ? null : REFERENCE.exec(value);
    if (m) refs.push(m[1]!);
  }
  return refs;
}

export function buildEnv(base: NodeJS.ProcessEnv, secrets: FetchedSecret[], opts: EnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;

  const from = new Map<string, string>();
  for (const s of secrets) {
    if (s.kind !== 'env') continue;
    const variable = envName(s.name);
    const other = from.get(variable);
    if (other !== undefined) throw new WardError('ERR_RUN_VALUE', `secrets ${other} and ${s.name} both map to the variable ${variable}`, { hint: 'rename one of them' });
    from.set(variable, s.name);
    if (variable in env && !opts.override) continue;
    env[variable] = text(variable, s.value);
  }

  const tolerate = (variable: string, e: unknown) => {
    if (!opts.onMissing || !(e instanceof WardError)) throw e;
    opts.onMissing(variable, e);
    delete env[variable];
  };

  for (const [variable, value] of Object.entries(env)) {
    const m = REFERENCE.exec(value);
    if (!m) continue;
    try {
      const resolved = opts.resolve(m[1]!, variable);
      if (resolved === undefined) throw new WardError('ERR_RUN_MISSING', `${variable} refers to ${m[1]}, which is not available`, { hint: 'check the path and that this workload may read it' });
      env[variable] = text(variable, resolved);
    } catch (e) {
      tolerate(variable, e);
    }
  }

  const encrypted = Object.keys(env).filter((k) => k.startsWith(ENCRYPTED_PREFIX) && k.length > ENCRYPTED_PREFIX.length);
  if (encrypted.length > 0) {
    const password = secrets.find((s) => s.name === STORE_PASSWORD)?.value;
    for (const variable of encrypted) {
      const name = variable.slice(ENCRYPTED_PREFIX.length);
      try {
        if (!password) throw new WardError('ERR_RUN_MISSING', `${variable} needs the secret ${STORE_PASSWORD}, which is not available`, { hint: `store it with: ward secret set APP/ENV/${STORE_PASSWORD}` });
        const plain = decryptSecureStoreValue(variable, env[variable]!, password);
        delete env[variable];
        if (name in env && !opts.override) continue;
        env[name] = text(name, plain);
        plain.fill(0);
      } catch (e) {
        tolerate(variable, e);
      }
    }
  }
  return env;
}
