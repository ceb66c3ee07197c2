/**
 * `ward audit tail|verify` (SPEC §3). Declares flags and help only; the implementation
 * (src/cli/operator/audit.ts) loads when the command runs.
 */
import type { Command } from 'commander';
import { addContextOptions, type ContextFlags } from '../context.ts';

const impl = () => import('../operator/audit.ts');
const flags = <T>(cmd: Command) => cmd.optsWithGlobals() as ContextFlags & T;

export function register(program: Command): void {
  const audit = addContextOptions(program.command('audit')).description('read and verify the hash-chained audit log');

  audit
    .command('tail')
    .description('print the latest audit records')
    .option('-n, --lines <n>', 'how many (0 to 1000)', '20')
    .option('-f, --follow', 'keep printing new records as they are written (long-poll)')
    .option('--all', 'with -f, also show the audit.read records of this command\'s own polling')
    .option('--json', 'one JSON object per line')
    .action(async (_o: unknown, cmd: Command) => (await impl()).tailAudit(flags(cmd)));

  audit
    .command('verify')
    .description('check the whole hash chain on the server')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExit codes: 0 when the chain verifies; 3 (ERR_AUDIT_CHAIN_BROKEN) naming the first bad record when not.')
    .action(async (_o: unknown, cmd: Command) => (await impl()).verifyAudit(flags(cmd)));
}
