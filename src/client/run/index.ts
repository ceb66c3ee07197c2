/**
 * `ward run -- CMD`: find the server, fetch APP/ENV's secrets, put them into the app's environment
 * and memory-backed files, then hand over (docs/run.md).
 *
 *   1. resolve CMD via PATH and read the templates (usage errors come before any network);
 *   2. APP/ENV from the options, else from the identity's SPIFFE ID;
 *   3. wait for a server (backoff with jitter, failover across servers, up to --wait);
 *   4. fetch the batch (with --e2e, encrypted by the server to a key made for the request), then
 *      every `ward:APP/ENV/NAME` secret referenced by a variable or a template; open sealed
 *      values and --env-file files with the --identity FILE keys (sealed.ts); build the
 *      environment (env.ts) and write files (files.ts);
 *   5. with --unlock, fetch each folder key and decrypt the folders into memory (unlock.ts);
 *   6. execve the app, or with --watch supervise it and deliver changes (supervise.ts).
 *
 * The app is never started when anything is missing, denied or undecryptable, unless
 * --allow-missing, which starts it without the affected variables and says which.
 */
import { rmSync } from 'node:fs';
import { WardError } from '../../errors.ts';
import { REFERENCE, buildEnv, inheritedRefs, type FetchedSecret } from './env.ts';
import { handOver, resolveCommand } from './exec.ts';
import { openFilesDir, parseTemplateSpec, writeFiles, type TemplateSpec } from './files.ts';
import type { OnChange } from './supervise.ts';
import { templateRefs } from './template.ts';
import type { Unlocked } from './unlock.ts';
import type { SealedIdentities } from '../../formats/sealed/index.ts';
import type { lazyIdentities } from './sealed.ts';
import { retry } from '../wait.ts';
import { WardClient, workloadOf, type Secret, type SecretSet } from '../ward-client.ts';

export interface RunOptions {
  servers: string[];
  identityDir: string;
  app: string | undefined;
  env: string | undefined;
  /** Budget for finding a server; 0 waits forever. */
  waitMs: number;
  filesDir: string | undefined;
  allowDisk: boolean;
  /** `SRC:DST` specs. */
  templates: string[];
  override: boolean;
  allowMissing: boolean;
  watch: boolean;
  onChange: OnChange;
  debounceMs: number;
  /** `ENCRYPTED_DIR:PLAIN_DIR[:NAME]` specs (unlock.ts). */
  unlock?: string[];
  /** Age identity files and OpenPGP secret keys that open sealed secrets and --env-file files. */
  decryptIdentities?: string[];
  /** Encrypted .env/TOML/YAML/JSON files whose values become variables (server secrets win). */
  envFiles?: string[];
  /** Ask for the batch encrypted end to end to an ephemeral key. */
  e2e?: boolean;
  /** Shows a progress line (the CLI passes one only when stderr is a terminal). */
  progress?: (line: string | undefined) => void;
  /** CMD and its arguments. */
  command: string[];
  /** Ward's own environment, inherited by the app. */
  baseEnv: NodeJS.ProcessEnv;
  log: (message: string) => void;
  warn: (message: string) => void;
}

const LOCAL_TIMEOUT = { timeoutMs: 30_000, connectTimeoutMs: 5_000 };

function splitRef(ref: string): [string, string, string] {
  const [a, e, n] = ref.split('/');
  return [a!, e!, n!];
}

interface Prepared {
  env: Record<string, string>;
  revision: number;
  files: string[];
}

class Run {
  readonly client: WardClient;
  readonly app: string;
  readonly envName: string;
  readonly templates: TemplateSpec[];
  /** Secrets of APP/ENV that --unlock uses as folder keys. */
  readonly folderKeyNames: Set<string>;
  private filesDir: string | undefined;
  private files: string[] = [];
  private readonly o: RunOptions;
  private identities: (() => Promise<SealedIdentities>) | undefined;

  constructor(o: RunOptions, folderKeyNames: readonly string[] = []) {
    this.o = o;
    this.templates = o.templates.map(parseTemplateSpec);
    this.folderKeyNames = new Set(folderKeyNames);
    // with --watch Ward stays running: it keeps the certificate renewed (docs/enrol.md) and picks up
    // a rotated identity; without, it hands over within seconds and needs neither
    this.client = new WardClient({ servers: o.servers, identity: o.identityDir, ...LOCAL_TIMEOUT, renew: o.watch, reloadIdentity: o.watch, log: o.log });
    const workload = o.app === undefined || o.env === undefined ? workloadOf(this.client.identity) : undefined;
    const app = o.app ?? workload?.app;
    const env = o.env ?? workload?.env;
    if (!app || !env) {
      throw new WardError('ERR_USAGE', 'no app/env given and the identity is not a workload certificate', { hint: 'pass --app A --env E (or WARD_APP, WARD_ENV)' });
    }
    this.app = app;
    this.envName = env;
  }

  /** Fetches everything and writes the files; `wait` bounds the search for a server. */
  async prepare(waitMs: number): Promise<Prepared> {
    const { o, app, envName } = this;
    let set: SecretSet;
    try {
      set = await retry(() => this.client.getAll(app, envName, { e2e: o.e2e === true }), { waitMs, log: o.log, what: 'a server' });
    } catch (e) {
      if (e instanceof WardError && e.code === 'ERR_API_DENIED') {
        throw new WardError('ERR_API_DENIED', `reading ${app}/${envName} was denied: ${e.message}`, { cause: e, hint: 'check the policies for this workload (ward policy explain)' });
      }
      throw e;
    }
    await this.unseal(set.secrets);
    const local = new Map<string, Secret>(set.secrets.map((s) => [s.name, s]));

    // every secret referenced from elsewhere: variables, secret values, templates
    const refs = new Set<string>(inheritedRefs(o.baseEnv));
    for (const s of set.secrets) {
      const m = s.kind === 'env' && s.value.length < 512 ? REFERENCE.exec(s.value.toString('utf8')) : null;
      if (m) refs.add(m[1]!);
    }
    for (const t of this.templates) for (const r of templateRefs(t.source, t.src)) if (r.includes('/')) refs.add(r);
    const fetched = new Map<string, Buffer>();
    const failed = new Map<string, WardError>();
    await Promise.all(
      [...refs].map(async (ref) => {
        const [a, e, n] = splitRef(ref);
        if (a === app && e === envName) {
          const s = local.get(n);
          if (s) fetched.set(ref, s.value);
          return;
        }
        try {
          const secret = await this.client.get(a, e, n, { e2e: o.e2e === true });
          await this.unseal([secret]);
          fetched.set(ref, secret.value);
        } catch (err) {
          if (!(err instanceof WardError)) throw err;
          // a network failure here is not "missing": it ends the start like any other
          if (err.exitCode === 5) throw err;
          failed.set(ref, err);
        }
      }),
    );

    // folder keys of --unlock open folders for the app; they are not handed to it
    const given = set.secrets.filter((s) => !this.folderKeyNames.has(s.name));
    const secrets: FetchedSecret[] = given.map((s) => ({ name: s.name, value: s.value, kind: s.kind }));
    if (o.envFiles?.length) {
      const m = await import('./sealed.ts');
      // a secret of the same name from the server wins over the file's value
      for (const f of await m.readEnvFiles(o.envFiles, this.identityLoader(m))) {
        if (local.has(f.name)) f.value.fill(0);
        else secrets.push(f);
      }
    }
    const env = buildEnv(o.baseEnv, secrets, {
      override: o.override,
      resolve: (ref, variable) => {
        const value = fetched.get(ref);
        if (value !== undefined) return value;
        const err = failed.get(ref);
        if (err && err.code === 'ERR_API_DENIED') {
          throw new WardError('ERR_API_DENIED', `${variable} refers to ${ref}, which this workload may not read`, { hint: 'check the policies (ward policy explain)' });
        }
        return undefined;
      },
      ...(o.allowMissing ? { onMissing: (variable: string, e: WardError) => o.warn(`--allow-missing: starting without ${variable}: ${e.message}`) } : {}),
    });

    const fileSecrets = given.filter((s) => s.kind === 'file');
    if (fileSecrets.length > 0 || this.templates.length > 0 || o.filesDir !== undefined || o.watch) {
      this.filesDir ??= openFilesDir(o.filesDir, o.allowDisk, o.baseEnv);
      const lookup = (ref: string) => {
        if (!ref.includes('/')) return local.get(ref)?.value;
        if (failed.get(ref)?.code === 'ERR_API_DENIED') {
          throw new WardError('ERR_API_DENIED', `a template refers to ${ref}, which this workload may not read`, { hint: 'check the policies (ward policy explain)' });
        }
        return fetched.get(ref);
      };
      this.files = writeFiles(this.filesDir, fileSecrets, this.templates, lookup, o.allowDisk, this.files);
      env.WARD_FILES = this.filesDir;
    }
    for (const s of set.secrets) s.value.fill(0);
    for (const v of fetched.values()) v.fill(0);
    return { env, revision: set.revision, files: this.files };
  }

  private identityLoader(m: { lazyIdentities: typeof lazyIdentities }): () => Promise<SealedIdentities> {
    return (this.identities ??= m.lazyIdentities(this.o.decryptIdentities ?? []));
  }

  /** Opens sealed values in place with the --identity FILE keys (loaded only when one is met). */
  private async unseal(secrets: Secret[]): Promise<void> {
    if (!secrets.some((s) => s.sealed)) return;
    const m = await import('./sealed.ts');
    await m.unsealSecrets(secrets, this.identityLoader(m), (this.o.decryptIdentities ?? []).length > 0);
  }

  /** The folder key NAME of the app's own APP/ENV. */
  async folderKey(name: string): Promise<Buffer> {
    try {
      return (await this.client.get(this.app, this.envName, name, { e2e: this.o.e2e === true })).value;
    } catch (e) {
      if (e instanceof WardError && e.code === 'ERR_API_DENIED') {
        throw new WardError('ERR_API_DENIED', `--unlock: the folder key ${this.app}/${this.envName}/${name} is not readable by this workload`, {
          cause: e,
          hint: 'check the policies (ward policy explain)',
        });
      }
      if (e instanceof WardError && e.code === 'ERR_API_NOT_FOUND') {
        throw new WardError('ERR_RUN_MISSING', `--unlock: the folder key ${this.app}/${this.envName}/${name} does not exist`, {
          cause: e,
          hint: 'create it with ward dir encrypt --key APP/ENV/NAME',
        });
      }
      throw e;
    }
  }

  /** Removes what this run wrote (after execve the app owns the files instead). */
  cleanup(): void {
    if (this.filesDir === undefined) return;
    if (this.o.filesDir === undefined) rmSync(this.filesDir, { recursive: true, force: true });
    else for (const f of this.files) rmSync(f, { force: true });
  }
}

/**
 * Runs `ward run`. Without --watch it does not return (the process becomes the app) unless it
 * fails; with --watch it resolves with the app's exit code.
 * @throws WardError ERR_USAGE (2), ERR_SECURESTORE_* (3), ERR_API_DENIED (4),
 *   ERR_API_UNAVAILABLE (5), ERR_RUN_MISSING (6), ERR_RUN_DISK, ERR_TEMPLATE
 */
export async function runWard(o: RunOptions): Promise<number> {
  if (o.command.length === 0) throw new WardError('ERR_USAGE', 'no command given', { hint: 'ward run [options] -- CMD [ARG...]' });
  const path = resolveCommand(o.command[0]!, o.baseEnv.PATH);
  // folders to unlock are checked before any network: a wrong target is a usage error
  const unlock = o.unlock?.length ? await import('./unlock.ts') : undefined;
  const unlocks = unlock ? o.unlock!.map(unlock.parseUnlockSpec) : [];
  for (const u of unlocks) unlock!.checkUnlockSpec(u, o.allowDisk);
  const run = new Run(o, unlocks.map((u) => u.name));
  let first: Prepared;
  let unlocked: Unlocked[] = [];
  try {
    first = await run.prepare(o.waitMs);
    if (unlock) {
      const { progress } = o;
      unlocked = await unlock.unlockFolders(unlocks, {
        fetchKey: (name) => run.folderKey(name),
        onWarning: o.warn,
        ...(progress ? { onProgress: throttled(progress) } : {}),
      });
      progress?.(undefined);
    }
  } catch (e) {
    o.progress?.(undefined);
    run.cleanup(); // e.g. a template failed after the file secrets were written
    throw e;
  }

  if (!o.watch) {
    run.client.close();
    try {
      return handOver(path, o.command, first.env);
    } catch (e) {
      run.cleanup(); // the app never started: its files must not stay behind
      unlock?.removeUnlocked(unlocked);
      throw e;
    }
  }

  // only --watch needs child processes; the hand-over path does not load them
  const { Supervisor } = await import('./supervise.ts');
  const abort = new AbortController();
  const supervisor = new Supervisor({
    path,
    args: o.command,
    env: first.env,
    onChange: o.onChange,
    debounceMs: o.debounceMs,
    log: o.log,
    refresh: async () => (await run.prepare(60_000)).env,
  });
  supervisor.start();
  const watching = (async () => {
    for await (const set of run.client.watch(run.app, run.envName, { revision: first.revision, signal: abort.signal, log: o.log, e2e: o.e2e === true })) {
      // only the change matters here: the refresh fetches everything again, references included
      for (const s of set.secrets) s.value.fill(0);
      supervisor.changed();
    }
  })().catch((e: unknown) => o.warn(`watching stopped: ${e instanceof Error ? e.message : String(e)}`));
  const code = await supervisor.exited;
  abort.abort();
  run.client.close();
  await watching;
  run.cleanup();
  unlock?.removeUnlocked(unlocked);
  return code;
}

/** At most ten progress lines a second. */
function throttled(show: (line: string) => void): (u: { dst: string }, p: { files: number; totalFiles: number }) => void {
  let last = 0;
  return (u, p) => {
    const now = Date.now();
    if (now - last < 100 && p.files !== p.totalFiles) return;
    last = now;
    show(`unlocking ${u.dst}: ${p.files}/${p.totalFiles} files`);
  };
}
