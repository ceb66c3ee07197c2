/**
 * `ward init [DIR] [--trust-domain D] [--san HOST]... [--passphrase | --shares N --threshold M |
 * --pkcs11-module M --pkcs11-token T]`: creates a deployment (src/deployment.ts) and its master key
 * (docs/keys.md). The implementation is src/cli/operator/init.ts.
 */
import type { Command } from 'commander';

const collect = (value: string, previous: string[]) => [...previous, value];

export function register(program: Command): void {
  program
    .command('init')
    .description('create a new deployment: CA, server and admin certificates, master key, ward.toml')
    .argument('[dir]', 'directory to create (must not exist, or be empty)', 'ward')
    .option('--trust-domain <domain>', 'SPIFFE trust domain of the identities this CA issues', 'ward.local')
    .option('--san <host>', 'extra DNS name or IP address for the server certificate (repeatable; localhost, 127.0.0.1 and ::1 are always included)', collect, [])
    .option('--passphrase', 'seal the master key under a passphrase (asked twice on the terminal, or --passphrase-file/--passphrase-fd)')
    .option('--passphrase-file <file>', 'with --passphrase: read it from the first line of FILE')
    .option('--passphrase-fd <n>', 'with --passphrase: read it from file descriptor N')
    .option('--shares <n>', 'split the master key\'s sealing key into N unseal shares (Shamir; with --threshold)')
    .option('--threshold <m>', 'with --shares: how many shares unseal (2..N)')
    .option('--shares-dir <dir>', 'with --shares: write share-1.txt ... (mode 0600) into DIR instead of printing them')
    .option('--pkcs11-module <path>', 'keep the master key in a PKCS#11 token: the module (e.g. /usr/lib/softhsm/libsofthsm2.so)')
    .option('--pkcs11-token <label>', 'with --pkcs11-module: the token\'s label')
    .option('--pkcs11-label <label>', 'with --pkcs11-module: the key\'s label (default ward-master)')
    .option('--pkcs11-pin-file <file>', 'with --pkcs11-module: the user PIN file (mode 0600; default $WARD_PKCS11_PIN)')
    .addHelpText('after', `
Creates DIR (mode 0700) holding ward.toml, the master key, ca/ca.crt + ca/ca.key,
server/server.crt + server/server.key, the admin identity directory admin/ (key.pem, cert.pem,
ca.pem) and data/. Private keys are written mode 0600. An existing deployment is never overwritten
(exit 7). Prints the CA fingerprint (sha256:HEX) on stdout, for ward enroll --ca-fingerprint.

Master key (docs/keys.md), one of:
  (default)          master.key, 32 random bytes: the server starts unsealed
  --passphrase       master.sealed under scrypt: the server starts sealed until
                     ward operator unseal (or ward server --unseal-file FILE)
  --shares N --threshold M
                     master.sealed under a key split into N shares, any M of which unseal. The
                     shares are printed ONCE on stdout, each labelled "share I of N", after the CA
                     fingerprint; with --shares-dir DIR they are written to DIR/share-I.txt
                     (mode 0600) instead. Ward keeps no copy: hand each to a different person.
  --pkcs11-module M --pkcs11-token T
                     a new non-extractable AES-256 key inside the token (PIN from
                     --pkcs11-pin-file or $WARD_PKCS11_PIN)

Examples:
  ward init /srv/ward --trust-domain prod.example.com --san ward.example.com --san 10.0.0.5
  ward init /srv/ward --shares 5 --threshold 3 --shares-dir /media/usb/shares`)
    .action(async (dir: string, opts: InitFlags) => (await import('../operator/init.ts')).init(dir, opts));
}

export interface InitFlags {
  trustDomain: string;
  san: string[];
  passphrase?: boolean;
  passphraseFile?: string;
  passphraseFd?: string;
  shares?: string;
  threshold?: string;
  sharesDir?: string;
  pkcs11Module?: string;
  pkcs11Token?: string;
  pkcs11Label?: string;
  pkcs11PinFile?: string;
}
