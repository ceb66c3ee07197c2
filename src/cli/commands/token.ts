/**
 * `ward token create` (SPEC §3): a one-time enrolment token for `ward enroll` (docs/enrol.md).
 * Declares flags and help only; the implementation (src/cli/enrol/token.ts) loads when it runs.
 */
import type { Command } from 'commander';
import { addContextOptions, type ContextFlags } from '../context.ts';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function register(program: Command): void {
  const token = addContextOptions(program.command('token')).description('one-time enrolment tokens for new workloads');
  token
    .command('create')
    .description('create a one-time enrolment token: printed once to stdout, stored by the server only as a hash')
    .requiredOption('--app <app>', 'the application the enrolled workload belongs to')
    .requiredOption('--env <env>', 'its environment')
    .option('--ttl <duration>', 'how long the token can be used, e.g. 15m, 2h (at most 30d)', '15m')
    .option('--cidr <net>', 'only this source address range may redeem it, e.g. 10.0.0.0/8 (repeatable)', collect, [])
    .option('--json', 'print {token, app, env, expiresAt} as JSON')
    .addHelpText('after', `
The token is single-use, expires after --ttl, and with --cidr works only from those addresses.
Hand it to the workload through a file or the environment, never on a command line:

  ward token create --app shop --env prod > token.txt
  ward enroll --server https://ward:8444 --token-file token.txt \\
      --ca-fingerprint sha256:<from ward init> --out /var/lib/ward/id`)
    .action(async (_o: unknown, cmd: Command) => {
      const { createToken } = await import('../enrol/token.ts');
      await createToken(cmd.optsWithGlobals() as ContextFlags & { app: string; env: string; ttl: string; cidr: string[]; json?: boolean });
    });
}
