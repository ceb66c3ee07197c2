/**
 * `ward run [options] -- CMD [ARG...]`: the container entrypoint (docs/run.md). Flags map onto
 * src/client/run; the implementation is imported only when the command runs, so start-up stays
 * small.
 */
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import type { RunOptions } from '../../client/run/index.ts';
import { parseDuration, usageError } from '../args.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

export interface RunFlags {
  server: string[];
  /** The identity directory, and identity files (age or OpenPGP) that open sealed values. */
  identity?: string | string[];
  app?: string;
  env?: string;
  wait: string;
  files?: string;
  allowDisk?: boolean;
  template: string[];
  unlock?: string[];
  override?: boolean;
  allowMissing?: boolean;
  watch?: boolean;
  onChange: string;
  debounce: string;
  envFile?: string[];
  e2e?: boolean;
}

/** What `ward run` asks of src/client/run: its options, less what only the CLI supplies. */
export type RunRequest = Omit<RunOptions, 'baseEnv' | 'log' | 'warn' | 'progress' | 'unlock' | 'decryptIdentities' | 'envFiles'> & {
  unlock: string[];
  decryptIdentities: string[];
  envFiles: string[];
};

/** An existing regular file given to --identity is a key that opens sealed values; anything else the identity directory. */
function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Splits the --identity values: at most one directory (mTLS), any number of key files. */
function splitIdentities(values: string | string[] | undefined): { dir: string | undefined; files: string[] } {
  const list = values === undefined ? [] : typeof values === 'string' ? [values] : values;
  const files = list.filter(isFile);
  const dirs = list.filter((v) => !files.includes(v));
  if (dirs.length > 1) throw usageError('more than one identity directory given', '--identity DIR once (the client certificate); --identity FILE for each decryption key');
  return { dir: dirs[0], files };
}

/** Flags and environment to a request; pure. Flags win over WARD_* variables. */
export function parseRun(flags: RunFlags, command: string[], env: NodeJS.ProcessEnv): RunRequest {
  const servers = (flags.server.length > 0 ? flags.server : [env.WARD_SERVER ?? '']).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0) throw usageError('no server given', 'pass --server https://HOST:8443 (repeatable) or set WARD_SERVER (comma-separated)');
  const identities = splitIdentities(flags.identity);
  const identityDir = identities.dir ?? env.WARD_IDENTITY;
  if (!identityDir) throw usageError('no identity given', 'pass --identity DIR or set WARD_IDENTITY (a directory with key.pem, cert.pem, ca.pem)');
  if (flags.onChange !== 'hup' && flags.onChange !== 'restart') throw usageError(`invalid --on-change ${JSON.stringify(flags.onChange)}`, 'use hup or restart');
  if (command.length === 0) throw usageError('no command given', 'ward run [options] -- CMD [ARG...]');
  return {
    servers,
    identityDir,
    app: flags.app ?? (env.WARD_APP || undefined),
    env: flags.env ?? (env.WARD_ENV || undefined),
    waitMs: parseDuration(flags.wait, '--wait'),
    filesDir: flags.files,
    allowDisk: flags.allowDisk === true,
    templates: flags.template,
    unlock: flags.unlock ?? [],
    decryptIdentities: identities.files,
    envFiles: flags.envFile ?? [],
    e2e: flags.e2e === true,
    override: flags.override === true,
    allowMissing: flags.allowMissing === true,
    watch: flags.watch === true,
    onChange: flags.onChange,
    debounceMs: parseDuration(flags.debounce, '--debounce'),
    command,
  };
}

export function register(program: Command): void {
  program
    .command('run')
    .description('fetch this workload\'s secrets and run CMD with them (container entrypoint)')
    .usage('[options] -- CMD [ARG...]')
    .argument('<cmd...>', 'the command to run, after --')
    .option('--server <url>', 'server URL; repeat (or comma-separate) for failover (env WARD_SERVER)', collect, [])
    .option('--identity <dir|file>', 'identity directory: key.pem, cert.pem, ca.pem (env WARD_IDENTITY); a FILE is the app\'s private key (age identity file or OpenPGP secret key) that opens sealed secrets and --env-file files (repeatable)', (v: string, prev: string[] | undefined) => collect(v, prev ?? []))
    .option('--env-file <file>', 'decrypt FILE (made by ward env|config encrypt) with the --identity FILE keys and inject its values (repeatable; secrets from the server win)', (v: string, prev: string[] | undefined) => collect(v, prev ?? []))
    .option('--e2e', 'ask the server to encrypt the answer to a key made for this start, end to end (a TLS-terminating proxy sees only ciphertext)')
    .option('--app <app>', 'application (env WARD_APP; default: from the certificate\'s SPIFFE ID)')
    .option('--env <env>', 'environment (env WARD_ENV; default: from the certificate\'s SPIFFE ID)')
    .option('--wait <duration>', 'how long to retry until a server answers; 0 waits forever', '60s')
    .option('--files <dir>', 'directory for file secrets and templates (default: a new directory under $XDG_RUNTIME_DIR or /dev/shm)')
    .option('--allow-disk', 'accept a --files directory that is not memory-backed')
    .option('--template <src:dst>', 'render template SRC into the files directory as DST (repeatable)', collect, [])
    .option('--unlock <src:dst[:name]>', 'decrypt the rclone crypt folder SRC into the memory-backed DST before the app starts, with the folder key in secret NAME of APP/ENV (default DIR_KEY; repeatable)', (v: string, prev: string[] | undefined) => collect(v, prev ?? []))
    .option('--override', 'secrets replace variables already set in the environment')
    .option('--allow-missing', 'start even when a referenced secret is missing, denied or undecryptable (leaving it out)')
    .option('--watch', 'stay as the app\'s parent: forward signals, deliver secret changes')
    .option('--on-change <mode>', 'with --watch: hup (re-render files, send SIGHUP) or restart', 'hup')
    .option('--debounce <duration>', 'with --watch: wait this long for more changes before acting', '1s')
    .addHelpText('after', `
Each secret of APP/ENV becomes an environment variable (names mapped as in docs/run.md); values
ward:APP/ENV/NAME are resolved; ENCRYPTED_<NAME> variables are decrypted with APP/ENV/STORE_PASSWORD
and exposed as <NAME>; file secrets and templates are written (mode 0400) to a memory-backed
directory given to the app as WARD_FILES. Then Ward replaces itself with CMD (same PID), or with
--watch supervises it.

--unlock ENCRYPTED_DIR:PLAIN_DIR[:NAME] (remote unlock): the folder key made by
\`ward dir encrypt --key APP/ENV/NAME\` is fetched over mTLS and the folder decrypted into
PLAIN_DIR (absent or empty; memory-backed unless --allow-disk) before the app starts; if the key
is denied or anything fails, the app is not started and PLAIN_DIR is left absent or empty.

Sealed secrets (zero-knowledge, docs/sealed.md) are opened with the app's own key:
  ward run --identity /run/ward --identity /run/keys/app.agekey -- node server.js
A sealed secret that no --identity FILE opens stops the start (exit 3); the app is not started.

Exit codes: 2 usage, 3 decryption failed, 4 access denied, 5 no server answered within --wait,
6 a referenced secret does not exist; otherwise the app's own code (128+N when killed by signal N).

Example:
  ward run --server https://ward-a:8443,https://ward-b:8443 --identity /run/ward -- node server.js`)
    .action(async (command: string[], flags: RunFlags) => {
      const request = parseRun(flags, command, process.env);
      await (await import('../enrol/auto.ts')).enrolIfNeeded(request.identityDir, process.env);
      const [{ runWard }, ui] = await Promise.all([import('../../client/run/index.ts'), import('../ui.ts')]);
      const progress = process.stderr.isTTY
        ? (line: string | undefined) => process.stderr.write(line === undefined ? '\r\x1b[K' : `\rward: ${line}\x1b[K`)
        : undefined;
      process.exitCode = await runWard({ ...request, baseEnv: process.env, log: ui.info, warn: ui.warn, ...(progress ? { progress } : {}) });
    });
}
