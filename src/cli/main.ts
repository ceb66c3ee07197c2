/**
 * The `ward` command line. Each command lives in src/cli/commands/<name>.ts and exports
 * `register(program)`, which declares its flags and help and imports its implementation lazily,
 * so `ward run` loads only what `ward run` needs.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { ExitCode } from '../errors.ts';
import { debugEnabled, reportError } from './ui.ts';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The program with the commands `args` needs: the one it names, or all of them. */
export async function buildProgram(args: string[] = []): Promise<Command> {
  const [{ Command }, { commands }] = await Promise.all([import('commander'), import('./commands/index.ts')]);
  const program = new Command('ward')
    .description('Ward: secrets for containers and device fleets, delivered over mutual TLS')
    .version(version(), '-V, --version', 'print the version and exit')
    .option('--debug', 'print stack traces and internal details of errors')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    // Program flags only before the command: `ward secret get X --version 3` is the command's own.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s.replace(/^error:/, 'ward: error:')) })
    .addHelpText('after', '\nExit codes: 0 ok, 1 failure, 2 usage, 3 decryption failed, 4 access denied,\n5 server unreachable, 6 not found, 7 conflict, 8 configuration, 9 I/O, 10 server sealed.\nSee docs/errors.md.');
  const named = args.find((a) => !a.startsWith('-'));
  const wanted = named !== undefined && Object.hasOwn(commands, named) ? [commands[named]!] : Object.values(commands);
  for (const { register } of await Promise.all(wanted.map((load) => load()))) register(program);
  return program;
}

/** Runs the CLI and returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  // --debug is accepted anywhere before `--` (after it, the words are another program's), so it
  // is taken out before commander sees it.
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  if (argv.slice(0, end).includes('--debug')) debugEnabled.value = true;
  const args = argv.filter((a, i) => i >= end || a !== '--debug');
  try {
    // The container entrypoint's common form skips commander (src/cli/commands/run.ts).
    const run = args[0] === 'run' ? (await import('./commands/run.ts')) : undefined;
    const fast = run?.parseRunArgv(args.slice(1));
    if (run && fast) await run.runCommand(fast.command, fast.flags);
    else await (await buildProgram(args)).parseAsync(args, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (e) {
    // commander is loaded lazily, so its errors are known by their code, not by instanceof
    const { code, exitCode } = (e ?? {}) as { code?: unknown; exitCode?: unknown };
    if (typeof code === 'string' && code.startsWith('commander.')) {
      // --help and --version exit through here with code 0; usage errors were already printed.
      return exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    return reportError(e);
  }
}
