/**
 * `ward enroll` (SPEC §3): a new workload obtains its certificate with a one-time token
 * (docs/enrol.md). Declares flags and help only; src/cli/enrol/enroll.ts runs it.
 */
import type { Command } from 'commander';

export interface EnrollFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  caFingerprint?: string;
  out: string;
  name?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('enroll')
    .description('obtain a workload certificate with a one-time token; the key is generated here and never leaves this machine')
    .option('--server <url>', 'the enrolment listener, https://HOST:PORT ([server] enroll_listen; default: $WARD_ENROLL_SERVER)')
    .option('--token-file <file>', 'read the token from FILE ("-" for stdin; default: $WARD_TOKEN)')
    .option('--token <token>', 'the token itself (test use only: a command line is visible to other users)')
    .option('--ca-fingerprint <sha256:hex>', 'fingerprint of the deployment CA, as ward init printed it (default: $WARD_CA_FINGERPRINT)')
    .requiredOption('--out <dir>', 'identity directory to write: key.pem (0600), cert.pem, ca.pem')
    .option('--name <instance>', 'instance name in the SPIFFE ID (default: random)')
    .option('--json', 'print {dir, spiffeId, serial, notAfter} as JSON')
    .addHelpText('after', `
The CA the server presents must match --ca-fingerprint, and the server's certificate must chain
to it, before the token is sent; otherwise nothing is sent (exit 4, ERR_ENROLL_CA_MISMATCH).

Example:
  WARD_TOKEN=$(cat token.txt) ward enroll --server https://ward:8444 \\
      --ca-fingerprint sha256:3f…e1 --out /var/lib/ward/id
  ward run --identity /var/lib/ward/id --server https://ward:8443 --watch -- ./app`)
    .action(async (flags: EnrollFlags) => {
      const { runEnroll } = await import('../enrol/enroll.ts');
      await runEnroll(flags, process.env);
    });
}
