/**
 * `ward operator seal|unseal|status` (SPEC §3, docs/keys.md). Declares flags and help only; the
 * implementation (src/cli/operator/keys.ts) loads when the command runs.
 */
import type { Command } from 'commander';
import { addContextOptions, type ContextFlags } from '../context.ts';

const impl = () => import('../operator/keys.ts');
const flags = <T>(cmd: Command) => cmd.optsWithGlobals() as ContextFlags & T;

export function register(program: Command): void {
  const operator = addContextOptions(program.command('operator')).description('seal and unseal the server\'s master key');

  operator
    .command('unseal')
    .description('submit the passphrase, or one unseal share, to a sealed server')
    .option('--passphrase-file <file>', 'read the passphrase (or the share) from the first line of FILE')
    .option('--passphrase-fd <n>', 'read the passphrase (or the share) from file descriptor N (0: stdin)')
    .option('--share-file <file>', 'read the share from FILE (a file ward init --shares-dir wrote)')
    .addHelpText('after', `
Without a file or descriptor, asks on the terminal with echo off. A passphrase server unseals in
one call; a Shamir server needs one call per share, from different operators, and prints the
progress ("unseal progress: 2 of 3 shares"). A wrong passphrase or share is refused (exit 3) and
the server stays sealed; shares that combine to the wrong key discard every pending share.
With several replicas, unseal each one: --server https://HOST:PORT.
Exit codes: 0 unsealed, 10 still sealed (more shares needed), 3 wrong passphrase or share.`)
    .action(async (_o: unknown, cmd: Command) => (await impl()).unseal(flags(cmd)));

  operator
    .command('seal')
    .description('drop the master key and every key and value cached from memory at once (admin; audited)')
    .addHelpText('after', `
The server then answers only the status and unseal routes (503 ERR_KEY_SEALED) and reports not
ready on /readyz until it is unsealed again.`)
    .action(async (_o: unknown, cmd: Command) => (await impl()).seal(flags(cmd)));

  operator
    .command('status')
    .description('whether the server is sealed, and the unseal progress')
    .option('--json', 'print {sealed, provider, have, need} as JSON')
    .addHelpText('after', '\nExit codes: 0 unsealed, 10 sealed.')
    .action(async (_o: unknown, cmd: Command) => (await impl()).status(flags(cmd)));
}
