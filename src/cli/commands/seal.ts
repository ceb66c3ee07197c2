/**
 * `ward seal APP/ENV/NAME [--from-file F | stdin]` (SPEC §3, docs/sealed.md): encrypts a value on
 * this machine to the recipients of APP/ENV and uploads the ciphertext marked sealed. Declares flags
 * and help only; src/cli/operator/sealed.ts loads when the command runs.
 */
import type { Command } from 'commander';
import { addContextOptions, type ContextFlags } from '../context.ts';

export function register(program: Command): void {
  addContextOptions(program.command('seal'))
    .description('zero-knowledge: encrypt a value here to the app\'s recipients and store only the ciphertext on the server')
    .argument('<path>', 'APP/ENV/NAME')
    .option('--from-file <file>', 'read the value from FILE ("-" for stdin)')
    .option('--file', 'deliver it as a file with ward run --files (default: an environment variable)')
    .option('--cas <version>', 'check-and-set: write only if the current version is VERSION (0: only if it does not exist)')
    .option('--json', 'print the new version as JSON')
    .addHelpText('after', `
The value comes from stdin, --from-file, or a prompt without echo (never an argument). It is
encrypted to every recipient of APP/ENV (ward recipients add) as one age or OpenPGP message; the
server stores that message (envelope-encrypted at rest like every value) and can never read it.
The app opens it with its private key: ward run --identity FILE.

Examples:
  printf %s "$DB_PASSWORD" | ward seal shop/prod/DB_PASSWORD
  ward seal shop/prod/tls.key --from-file tls.key --file

Exit codes: 6 when APP/ENV has no recipients, 2 when it has both age and OpenPGP ones.`)
    .action(async (path: string, _o: unknown, cmd: Command) => (await import('../operator/sealed.ts')).seal(path, cmd.optsWithGlobals() as ContextFlags & { fromFile?: string; file?: boolean; cas?: string; json?: boolean }));
}
