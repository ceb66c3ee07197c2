/**
 * `ward policy set|ls|rm|explain` (SPEC §3). Declares flags and help only; the implementation
 * (src/cli/operator/policy.ts) loads when the command runs.
 */
import type { Command } from 'commander';
import { addContextOptions, type ContextFlags } from '../context.ts';

const impl = () => import('../operator/policy.ts');
const flags = <T>(cmd: Command) => cmd.optsWithGlobals() as ContextFlags & T;

const EXAMPLE = `
Policy file (JSON, or TOML when it ends in .toml):
  {
    "name": "shop-readers",
    "description": "web tier reads shop secrets",
    "rules": [
      { "name": "web-read", "effect": "allow", "identities": ["spiffe://ward.local/app/shop/env/prod/*"],
        "operations": ["read", "list"], "paths": ["shop/prod/*"] },
      { "name": "no-root-key", "effect": "deny", "identities": ["spiffe://ward.local/**"],
        "operations": ["read"], "paths": ["shop/prod/ROOT_KEY"] }
    ]
  }
A deny rule always wins; everything not allowed is denied.`;

export function register(program: Command): void {
  const policy = addContextOptions(program.command('policy')).description('manage access policies and explain decisions');

  policy
    .command('set')
    .description('create or replace a policy from a file')
    .argument('<file>', 'policy file (JSON, or TOML for *.toml)')
    .option('--name <name>', 'policy name (default: the file\'s "name")')
    .addHelpText('after', EXAMPLE)
    .action(async (file: string, _o: unknown, cmd: Command) => (await impl()).setPolicy(file, flags(cmd)));

  policy
    .command('ls')
    .description('list policies')
    .option('--json', 'print the policies (with their documents) as JSON')
    .action(async (_o: unknown, cmd: Command) => (await impl()).listPolicies(flags(cmd)));

  policy
    .command('rm')
    .description('delete a policy')
    .argument('<name>', 'policy name')
    .action(async (name: string, _o: unknown, cmd: Command) => (await impl()).removePolicy(name, flags(cmd)));

  policy
    .command('explain')
    .description('say whether an identity may do an operation on a path, and which rule decides')
    .argument('<path>', 'APP/ENV/NAME')
    .option('--cert <file>', 'the identity: a certificate file, or an identity directory')
    .option('--spiffe-id <id>', 'the identity as a SPIFFE ID, instead of --cert')
    .option('--op <operation>', 'read, write, list or admin', 'read')
    .option('--source <ip>', 'also evaluate the IP allow/deny lists for this source address')
    .option('--json', 'print the decision as JSON')
    .addHelpText('after', '\nExit codes: 0 when allowed, 4 when denied.')
    .action(async (path: string, _o: unknown, cmd: Command) => (await impl()).explain(path, flags(cmd)));
}
