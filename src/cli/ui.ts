/**
 * Everything the CLI prints goes through here. The rules (after age's cmd/age/tui.go):
 * - results go to stdout; messages, progress and prompts go to stderr (prompts to the terminal);
 * - messages are prefixed `ward:`, lowercase, with no trailing period;
 * - errors print `ward: error: …` and, when known, `ward: hint: …`; stack traces only with --debug;
 * - colour only when stderr is a TTY and NO_COLOR is unset;
 * - no secret is ever printed to a terminal by accident: commands that output secrets write them
 *   to stdout only when asked to.
 */
import { WardError, ExitCode } from '../errors.ts';

export const debugEnabled = { value: process.env.WARD_DEBUG === '1' };

function colour(code: string, s: string): string {
  if (!process.stderr.isTTY || process.env.NO_COLOR !== undefined) return s;
  return `\x1b[${code}m${s}\x1b[0m`;
}

export function info(message: string): void {
  process.stderr.write(`ward: ${message}\n`);
}

export function warn(message: string): void {
  process.stderr.write(`ward: ${colour('33', 'warning:')} ${message}\n`);
}

export function hint(message: string): void {
  process.stderr.write(`ward: ${colour('2', 'hint:')} ${message}\n`);
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Prints an error the way the CLI promises and returns the exit code to use. */
export function reportError(e: unknown): number {
  if (e instanceof WardError) {
    process.stderr.write(`ward: ${colour('31', 'error:')} ${e.message} (${e.code})\n`);
    if (e.hint) hint(e.hint);
    if (debugEnabled.value && e.stack) process.stderr.write(`${e.stack}\n`);
    return e.exitCode;
  }
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`ward: ${colour('31', 'error:')} ${message}\n`);
  if (debugEnabled.value && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  else hint('run again with --debug for details');
  return ExitCode.failure;
}
