/**
 * `ward secret set|get|ls|rm|undelete|history|rollback` (SPEC §3). Declares flags and help only;
 * the implementation (src/cli/operator/secret.ts) loads when the command runs.
 */
import type { Command } from 'commander';
import { addContextOptions, type ContextFlags } from '../context.ts';

const impl = () => import('../operator/secret.ts');
type Opts<T> = ContextFlags & T;
const flags = <T>(cmd: Command) => cmd.optsWithGlobals() as Opts<T>;

export function register(program: Command): void {
  const secret = addContextOptions(program.command('secret'))
    .description('store, read and manage secrets (APP/ENV/NAME) on the server')
    .addHelpText('after', '\nThe server and identity come from --server/--identity, WARD_SERVER/WARD_IDENTITY, or the\nward.toml of the deployment directory you are in (ward init).');

  secret
    .command('set')
    .description('store a new version of a secret; the value comes from stdin, a file, or a prompt without echo (never an argument)')
    .argument('<path>', 'APP/ENV/NAME')
    .option('--from-file <file>', 'read the value from FILE ("-" for stdin); the bytes are stored exactly')
    .option('--cas <version>', 'check-and-set: write only if the current version is VERSION (0: only if it does not exist)')
    .option('--file', 'deliver it as a file with ward run --files (default: an environment variable)')
    .option('--json', 'print the new version as JSON')
    .addHelpText('after', '\nExamples:\n  printf %s "$DB_PASSWORD" | ward secret set shop/prod/DB_PASSWORD\n  ward secret set shop/prod/tls.key --from-file tls.key --file\n  ward secret set shop/prod/API_KEY          (asks twice, without echo)\n\nExit codes: 7 when --cas does not match.')
    .action(async (path: string, _o: unknown, cmd: Command) => (await impl()).setSecret(path, flags(cmd)));

  secret
    .command('get')
    .description('print the value of a secret to stdout, byte for byte')
    .argument('<path>', 'APP/ENV/NAME')
    .option('--version <n>', 'a specific version (default: the latest)')
    .option('--json', 'print the metadata (version, kind, dates, size) as JSON instead of the value')
    .addHelpText('after', '\nExit codes: 4 when denied or when the secret does not exist (existence does not leak).')
    .action(async (path: string, _o: unknown, cmd: Command) => (await impl()).getSecret(path, flags(cmd)));

  secret
    .command('ls')
    .description('list secrets (metadata only), every page')
    .argument('[scope]', 'APP or APP/ENV (default: everything you may list)')
    .option('--deleted', 'include soft-deleted secrets')
    .option('--json', 'print JSON instead of a table')
    .action(async (scope: string | undefined, _o: unknown, cmd: Command) => (await impl()).listSecrets(scope, flags(cmd)));

  secret
    .command('rm')
    .description('delete a secret (soft: ward secret undelete restores it)')
    .argument('<path>', 'APP/ENV/NAME')
    .option('--destroy', 'also erase the values of every version, for good (admin)')
    .action(async (path: string, _o: unknown, cmd: Command) => (await impl()).removeSecret(path, flags(cmd)));

  secret
    .command('undelete')
    .description('restore a soft-deleted secret')
    .argument('<path>', 'APP/ENV/NAME')
    .action(async (path: string, _o: unknown, cmd: Command) => (await impl()).undeleteSecret(path, flags(cmd)));

  secret
    .command('history')
    .description('list the versions of a secret')
    .argument('<path>', 'APP/ENV/NAME')
    .option('--json', 'print JSON instead of a table')
    .action(async (path: string, _o: unknown, cmd: Command) => (await impl()).secretHistory(path, flags(cmd)));

  secret
    .command('import')
    .description('store the values of a config file encrypted to the server (GitOps): .env, TOML, YAML or JSON made by ward env|config encrypt -r <ward server recipient>')
    .argument('<file>', 'the encrypted file')
    .option('--app <app>', 'APP the values go to (with --env)')
    .option('--env <env>', 'ENV the values go to (with --app)')
    .option('--format <format>', 'env, toml, yaml or json (default: from the file name, else env)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
The server decrypts the file with its own identity (ward server recipient) and stores each value
as APP/ENV/NAME, NAME being the key (db.password for nested keys). Without --app/--env the file
must be TOML with one table per APP/ENV:

  ["shop/prod"]
  DB_PASSWORD = "..."
  [shop.dev]
  DB_PASSWORD = "..."

Values equal to the stored ones are left alone (no new version). Needs write on every secret.

Example:
  ward env encrypt -r "$(ward server recipient)" .env -o prod.env.enc
  ward secret import prod.env.enc --app shop --env prod`)
    .action(async (file: string, _o: unknown, cmd: Command) => (await import('../operator/sealed.ts')).importSecrets(file, flags(cmd)));

  secret
    .command('rollback')
    .description('write a new version holding the value of an older one')
    .argument('<path>', 'APP/ENV/NAME')
    .argument('<version>', 'the version whose value to restore')
    .option('--json', 'print the new version as JSON')
    .action(async (path: string, version: string, _o: unknown, cmd: Command) => (await impl()).rollbackSecret(path, version, flags(cmd)));
}
