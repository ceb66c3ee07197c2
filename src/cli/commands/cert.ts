/**
 * `ward cert issue|ls|revoke` (SPEC §3). Declares flags and help only; the implementation
 * (src/cli/operator/cert.ts) loads when the command runs.
 */
import type { Command } from 'commander';
import { addContextOptions, type ContextFlags } from '../context.ts';

const impl = () => import('../operator/cert.ts');
const flags = <T>(cmd: Command) => cmd.optsWithGlobals() as ContextFlags & T;

export function register(program: Command): void {
  const cert = addContextOptions(program.command('cert')).description('issue, list and revoke client certificates');

  cert
    .command('issue')
    .description('issue a client certificate: the key is generated here and never leaves this machine')
    .argument('<name>', 'the instance name (workload) or operator name (admin)')
    .option('--app <app>', 'the application the workload belongs to')
    .option('--env <env>', 'its environment')
    .option('--role <role>', 'client (a workload) or admin', 'client')
    .option('--ttl <duration>', 'lifetime, e.g. 720h, 30d (default: the server\'s, 720h)')
    .option('--out <dir>', 'identity directory to write: key.pem (0600), cert.pem, ca.pem (default: ./NAME)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  ward cert issue web-1 --app shop --env prod --out ./web-1\n  ward run --identity ./web-1 --server https://ward:8443 -- ./server\n\nRefuses to overwrite an existing identity (exit 7).')
    .action(async (name: string, _o: unknown, cmd: Command) => (await impl()).issueCert(name, flags(cmd)));

  cert
    .command('ls')
    .description('list the certificates the deployment has issued')
    .option('--json', 'print JSON instead of a table')
    .action(async (_o: unknown, cmd: Command) => (await impl()).listCerts(flags(cmd)));

  cert
    .command('revoke')
    .description('revoke a certificate at once, by name or serial')
    .argument('<ref>', 'certificate name or serial (hex)')
    .option('--json', 'print the revoked certificate as JSON')
    .action(async (ref: string, _o: unknown, cmd: Command) => (await impl()).revokeCert(ref, flags(cmd)));
}
