/**
 * `ward run [options] -- CMD [ARG...]`: the container entrypoint (docs/run.md). Flags map onto
 * src/client/run; the implementation is imported only when the command runs, so start-up stays
 * small.
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Command } from 'commander';
import type { RunOptions } from '../../client/run/index.ts';
import { parseDuration, usageError } from '../args.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

export interface RunFlags {
  server: string[];
  /** The identity directory, and identity files (age or OpenPGP) that open sealed values. */
  identity: string[];
  app?: string;
  env?: string;
  wait: string;
  files?: string;
  allowDisk?: boolean;
  template: string[];
  unlock: string[];
  override?: boolean;
  allowMissing?: boolean;
  watch?: boolean;
  onChange: string;
  debounce: string;
  envFile: string[];
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
function splitIdentities(list: string[]): { dir: string | undefined; files: string[] } {
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
    unlock: flags.unlock,
    decryptIdentities: identities.files,
    envFiles: flags.envFile,
    e2e: flags.e2e === true,
    override: flags.override === true,
    allowMissing: flags.allowMissing === true,
    watch: flags.watch === true,
    onChange: flags.onChange,
    debounceMs: parseDuration(flags.debounce, '--debounce'),
    command,
  };
}

/**
 * The flags of `ward run`, declared once. Commander reads them (help, and any command line the
 * fast path below does not take); {@link parseRunArgv} reads them without commander.
 */
interface RunOption {
  /** `--name` or `--name <value>`. */
  flags: string;
  help: string;
  repeat?: true;
  default?: string;
}

const RUN_OPTIONS: readonly RunOption[] = [
  { flags: '--server <url>', help: 'server URL; repeat (or comma-separate) for failover (env WARD_SERVER)', repeat: true },
  { flags: '--identity <dir|file>', help: 'identity directory: key.pem, cert.pem, ca.pem (env WARD_IDENTITY); a FILE is the app\'s private key (age identity file or OpenPGP secret key) that opens sealed secrets and --env-file files (repeatable)', repeat: true },
  { flags: '--env-file <file>', help: 'decrypt FILE (made by ward env|config encrypt) with the --identity FILE keys and inject its values (repeatable; secrets from the server win)', repeat: true },
  { flags: '--e2e', help: 'ask the server to encrypt the answer to a key made for this start, end to end (a TLS-terminating proxy sees only ciphertext)' },
  { flags: '--app <app>', help: 'application (env WARD_APP; default: from the certificate\'s SPIFFE ID)' },
  { flags: '--env <env>', help: 'environment (env WARD_ENV; default: from the certificate\'s SPIFFE ID)' },
  { flags: '--wait <duration>', help: 'how long to retry until a server answers; 0 waits forever', default: '60s' },
  { flags: '--files <dir>', help: 'directory for file secrets and templates (default: a new directory under $XDG_RUNTIME_DIR or /dev/shm)' },
  { flags: '--allow-disk', help: 'accept a --files directory that is not memory-backed' },
  { flags: '--template <src:dst>', help: 'render template SRC into the files directory as DST (repeatable)', repeat: true },
  { flags: '--unlock <src:dst[:name]>', help: 'decrypt the rclone crypt folder SRC into the memory-backed DST before the app starts, with the folder key in secret NAME of APP/ENV (default DIR_KEY; repeatable)', repeat: true },
  { flags: '--override', help: 'secrets replace variables already set in the environment' },
  { flags: '--allow-missing', help: 'start even when a referenced secret is missing, denied or undecryptable (leaving it out)' },
  { flags: '--watch', help: 'stay as the app\'s parent: forward signals, deliver secret changes' },
  { flags: '--on-change <mode>', help: 'with --watch: hup (re-render files, send SIGHUP) or restart', default: 'hup' },
  { flags: '--debounce <duration>', help: 'with --watch: wait this long for more changes before acting', default: '1s' },
];

const optionName = (o: RunOption) => o.flags.split(' ')[0]!.slice(2);
/** `allow-missing` → `allowMissing`, the key commander gives the value. */
const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * `ward run` without commander: the container entrypoint's start-up is on every container start,
 * and loading commander (and the child_process module it pulls in) and building the program costs
 * about 25 ms of CPU. Takes only the plain form `[--known-flag[=value]]... -- CMD [ARG...]` and
 * gives the flags exactly as commander would; anything else (help, an unknown or malformed flag,
 * no `--`) returns undefined, and commander parses it and reports its errors.
 */
export function parseRunArgv(args: readonly string[]): { command: string[]; flags: RunFlags } | undefined {
  const dashes = args.indexOf('--');
  if (dashes < 0 || dashes === args.length - 1) return undefined;
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const o of RUN_OPTIONS) options[optionName(o)] = { type: o.flags.includes('<') ? 'string' : 'boolean', ...(o.repeat ? { multiple: true } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args: args.slice(0, dashes), options, strict: true, allowPositionals: false });
  } catch {
    return undefined;
  }
  const flags: Record<string, unknown> = {};
  for (const o of RUN_OPTIONS) {
    const value = parsed.values[optionName(o)];
    if (value !== undefined) flags[camel(optionName(o))] = value;
    else if (o.repeat) flags[camel(optionName(o))] = [];
    else if (o.default !== undefined) flags[camel(optionName(o))] = o.default;
  }
  return { command: args.slice(dashes + 1), flags: flags as unknown as RunFlags };
}

/** What `ward run` does once its flags are parsed, by commander or by {@link parseRunArgv}. */
export async function runCommand(command: string[], flags: RunFlags): Promise<void> {
  const request = parseRun(flags, command, process.env);
  await (await import('../enrol/auto.ts')).enrolIfNeeded(request.identityDir, process.env);
  const [{ runWard }, ui] = await Promise.all([import('../../client/run/index.ts'), import('../ui.ts')]);
  const progress = process.stderr.isTTY
    ? (line: string | undefined) => process.stderr.write(line === undefined ? '\r\x1b[K' : `\rward: ${line}\x1b[K`)
    : undefined;
  process.exitCode = await runWard({ ...request, baseEnv: process.env, log: ui.info, warn: ui.warn, ...(progress ? { progress } : {}) });
}

export function register(program: Command): void {
  const run = program
    .command('run')
    .description('fetch this workload\'s secrets and run CMD with them (container entrypoint)')
    .usage('[options] -- CMD [ARG...]')
    .argument('<cmd...>', 'the command to run, after --');
  for (const o of RUN_OPTIONS) {
    if (o.repeat) run.option(o.flags, o.help, collect, []);
    else if (o.default !== undefined) run.option(o.flags, o.help, o.default);
    else run.option(o.flags, o.help);
  }
  run
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
    .action(runCommand);
}
