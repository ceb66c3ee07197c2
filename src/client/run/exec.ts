/**
 * Handing over to the application (`ward run` without --watch).
 *
 * `process.execve` replaces the Ward process with the app: same PID (PID 1 in a container, so the
 * app receives the container's signals itself), and nothing of Ward, its secrets in memory
 * included, survives. execve(2) does no PATH search, so the command is resolved here the way a
 * shell does: a name with a slash is used as is, anything else is looked up in the new
 * environment's PATH (the first regular file we may execute).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { WardError } from '../../errors.ts';

/** The default PATH when none is set, as glibc's execvp uses. */
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

function executable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The absolute path of `command`.
 * @throws WardError ERR_USAGE when it is not found or not executable
 */
export function resolveCommand(command: string, pathVar: string | undefined, cwd: string = process.cwd()): string {
  if (command.length === 0) throw new WardError('ERR_USAGE', 'the command is empty');
  if (command.includes('/')) {
    const path = isAbsolute(command) ? command : resolve(cwd, command);
    if (!executable(path)) throw new WardError('ERR_USAGE', `cannot execute ${command}: not an executable file`);
    return path;
  }
  for (const dir of (pathVar ?? DEFAULT_PATH).split(delimiter)) {
    const candidate = resolve(cwd, join(dir === '' ? '.' : dir, command));
    if (executable(candidate)) return candidate;
  }
  throw new WardError('ERR_USAGE', `command not found: ${command}`, { hint: 'give a path, or check PATH' });
}

const RESET_SIGNALS = ['SIGPIPE', 'SIGXFSZ'] as const;

/**
 * Replaces this process with `path`, with default signal dispositions. Never returns.
 * @throws WardError ERR_USAGE when execve fails (the process is then still Ward)
 */
export function handOver(path: string, args: readonly string[], env: Record<string, string>): never {
  if (typeof process.execve !== 'function') throw new WardError('ERR_USAGE', 'this runtime cannot replace itself (process.execve needs Node.js 23.11 or later on Unix)', { hint: 'use --watch to run the app as a child' });
  // Node ignores SIGPIPE and SIGXFSZ, and ignored signals stay ignored across execve: the app would
  // inherit that (a pipeline in it would not end on a closed pipe). A caught signal is reset to
  // its default by execve, so catching them here hands the app the default dispositions.
  for (const sig of RESET_SIGNALS) process.on(sig, () => {});
  try {
    return process.execve(path, [...args], env);
  } catch (e) {
    throw new WardError('ERR_USAGE', `cannot execute ${path}: ${(e as NodeJS.ErrnoException).code ?? 'failed'}`, { cause: e });
  }
}
