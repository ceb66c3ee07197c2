/**
 * `ward key ls|rotate|destroy` (SPEC §3, docs/keys.md): the per-APP/ENV key encryption keys.
 * Declares flags and help only; the implementation (src/cli/operator/keys.ts) loads when run.
 */
import type { Command } from 'commander';
import { addContextOptions, type ContextFlags } from '../context.ts';

const impl = () => import('../operator/keys.ts');
const flags = <T>(cmd: Command) => cmd.optsWithGlobals() as ContextFlags & T;

export function register(program: Command): void {
  const key = addContextOptions(program.command('key')).description('rotate or destroy the key encryption keys of applications; rotate the master key');

  key
    .command('ls')
    .description('KEK versions of every APP/ENV and how many data keys each wraps')
    .option('--json', 'print the list as JSON')
    .action(async (_o: unknown, cmd: Command) => (await impl()).listKeys(flags(cmd)));

  key
    .command('rotate')
    .description('new KEK version for APP/ENV (or every APP/ENV); data keys re-wrapped online')
    .option('--app <app>', 'only this application (with --env)')
    .option('--env <env>', 'only this environment (with --app)')
    .option('--batch <n>', 'data keys re-wrapped per request (1..1000)', '200')
    .addHelpText('after', `
Starts a new key encryption key version, then re-wraps every data key of the scope under it in
batches while the server keeps serving (values are not re-encrypted), then destroys the old
versions once no data key uses them. Progress on a terminal; one summary line per scope.
With PostgreSQL replicas the old versions are kept 60 s (until every replica uses the new one):
run the command again after that to destroy them.

Examples:
  ward key rotate --app shop --env prod
  ward key rotate`)
    .action(async (_o: unknown, cmd: Command) => (await impl()).rotate(flags(cmd)));

  key
    .command('new-master')
    .description('create a new master key file (file provider), to rotate the master key')
    .argument('<file>', 'where to write it (mode 0600; never overwritten)')
    .addHelpText('after', `
Rotating the master key (file provider), with no downtime:
  1. ward key new-master /srv/ward/master-2.key
  2. in ward.toml [keys]: path = "master-2.key", previous = ["master.key"]; restart each server
     (new values are wrapped by the new key; the former one still opens the old ones)
  3. ward key rotate        (every APP/ENV key encryption key moves under the new master key)
  4. ward key ls            (no live KEK under the former MASTER key id); then drop previous and
     archive or destroy the former key file`)
    .action(async (file: string) => (await impl()).newMaster(file));

  key
    .command('destroy')
    .description('crypto-shred APP/ENV: destroy every KEK version, its secrets become unreadable for good')
    .requiredOption('--app <app>', 'the application')
    .requiredOption('--env <env>', 'the environment')
    .option('--yes-destroy-all-secrets', 'required: confirms that APP/ENV\'s secrets are lost for good')
    .addHelpText('after', `
Irreversible: every stored version of every secret of APP/ENV becomes undecryptable (reads answer
ERR_KEY_DESTROYED), on this server at once and on replicas within 60 s. Other applications are not
affected. New writes to APP/ENV start a new key.`)
    .action(async (_o: unknown, cmd: Command) => (await impl()).destroyKeys(flags(cmd)));
}
