/**
 * `ward recipients add|ls|rm APP/ENV [RECIPIENT]` (SPEC §3, docs/sealed.md): the public keys sealed
 * secrets of APP/ENV are encrypted to. Declares flags and help only; src/cli/operator/sealed.ts
 * loads when the command runs.
 */
import type { Command } from 'commander';
import { addContextOptions, type ContextFlags } from '../context.ts';

const impl = () => import('../operator/sealed.ts');
const flags = <T>(cmd: Command) => cmd.optsWithGlobals() as ContextFlags & T;

export function register(program: Command): void {
  const recipients = addContextOptions(program.command('recipients'))
    .description('public keys of the consuming app that ward seal encrypts to (zero-knowledge mode)')
    .addHelpText('after', `
A recipient is an age X25519 recipient (age1…, from ward keygen) or an OpenPGP public key
(pgp:FILE.asc, from gpg --export -a KEYID). Every recipient of APP/ENV can open the values sealed
after it was added; all recipients of one APP/ENV are of one kind. Adding and removing needs the
admin operation on APP/ENV/*.

Examples:
  ward keygen -o app.agekey                     (on the app's side; prints its recipient)
  ward recipients add shop/prod age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  ward recipients add shop/prod pgp:team.asc
  ward recipients ls shop/prod
  ward recipients rm shop/prod pgp:team.asc`);

  recipients
    .command('add')
    .description('register a recipient of APP/ENV (checked: a valid age1… recipient or one OpenPGP public key that can encrypt)')
    .argument('<scope>', 'APP/ENV')
    .argument('<recipient>', 'age1… or pgp:FILE (armored or binary OpenPGP public key)')
    .option('--json', 'print the result as JSON')
    .action(async (scope: string, recipient: string, _o: unknown, cmd: Command) => (await impl()).addRecipient(scope, recipient, flags(cmd)));

  recipients
    .command('ls')
    .description('list the recipients of APP/ENV')
    .argument('<scope>', 'APP/ENV')
    .option('--json', 'print JSON (with the keys) instead of a table')
    .action(async (scope: string, _o: unknown, cmd: Command) => (await impl()).listRecipients(scope, flags(cmd)));

  recipients
    .command('rm')
    .description('remove a recipient of APP/ENV (values already sealed to it are not re-sealed)')
    .argument('<scope>', 'APP/ENV')
    .argument('<recipient>', 'age1…, pgp:FILE or pgp:FINGERPRINT')
    .action(async (scope: string, recipient: string, _o: unknown, cmd: Command) => (await impl()).removeRecipient(scope, recipient, flags(cmd)));
}
