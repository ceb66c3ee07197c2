/** `ward init [DIR] [--trust-domain D] [--san HOST]...`: creates a deployment (src/deployment.ts). */
import type { Command } from 'commander';

const collect = (value: string, previous: string[]) => [...previous, value];

export function register(program: Command): void {
  program
    .command('init')
    .description('create a new deployment: CA, server and admin certificates, master key, ward.toml')
    .argument('[dir]', 'directory to create (must not exist, or be empty)', 'ward')
    .option('--trust-domain <domain>', 'SPIFFE trust domain of the identities this CA issues', 'ward.local')
    .option('--san <host>', 'extra DNS name or IP address for the server certificate (repeatable; localhost, 127.0.0.1 and ::1 are always included)', collect, [])
    .addHelpText('after', `
Creates DIR (mode 0700) holding ward.toml, master.key, ca/ca.crt + ca/ca.key, server/server.crt +
server/server.key, the admin identity directory admin/ (key.pem, cert.pem, ca.pem) and data/.
Private keys are written mode 0600. An existing deployment is never overwritten (exit 7).
Prints the CA fingerprint (sha256:HEX) on stdout, for ward enroll --ca-fingerprint.

Example:
  ward init /srv/ward --trust-domain prod.example.com --san ward.example.com --san 10.0.0.5`)
    .action(async (dir: string, opts: { trustDomain: string; san: string[] }) => {
      const [{ initDeployment }, ui, { relative }] = await Promise.all([
        import('../../deployment.ts'), import('../ui.ts'), import('node:path'),
      ]);
      const result = await initDeployment({ dir, trustDomain: opts.trustDomain, sans: opts.san });
      const rel = relative(process.cwd(), result.dir) || '.';
      const shown = rel.startsWith('..') ? result.dir : rel;
      ui.info(`created deployment ${shown} (trust domain ${result.trustDomain}, server names ${[...result.dnsNames, ...result.ips].join(', ')})`);
      ui.info(`CA fingerprint ${result.caFingerprint} (for ward enroll --ca-fingerprint)`);
      ui.info('next steps:');
      ui.info(`  start the server:       npx ward server --config ${shown}/ward.toml`);
      ui.info(`  store a secret:         cd ${shown} && npx ward secret set myapp/prod/DB_PASSWORD < password.txt`);
      ui.info(`  issue a workload cert:  cd ${shown} && npx ward cert issue web-1 --app myapp --env prod --out web-1`);
      ui.info('  run the app with it:    ward run --server https://HOST:8443 --identity web-1 -- CMD');
      ui.hint('keep master.key and ca/ca.key private and backed up: without master.key no secret can be decrypted');
      ui.out(result.caFingerprint);
    });
}
