/** `ward dir encrypt|decrypt SRC DST`: folders in the rclone crypt format (names and contents). */
import { Option, type Command } from 'commander';
import { addContextOptions } from '../context.ts';

export interface DirFlags {
  key?: string;
  server?: string[];
  identity?: string;
  config?: string;
  passwordFile?: string;
  saltFile?: string;
  obscured?: boolean;
  filenameEncryption: 'standard' | 'off';
  directoryNameEncryption: 'true' | 'false';
  jobs: string;
  threads: '1' | '2';
}

const HELP = `
The password is the crypt remote's \`password\`, the salt its \`password2\` (optional; rclone's
built-in salt when absent). Each file holds one value on its first line. With --obscured they hold
the obscured form found in rclone.conf. Without --password-file (or WARD_DIR_PASSWORD_FILE) the
password is asked on the terminal.

With --key APP/ENV/NAME the folder key (a random 32-byte password and 16-byte salt, JSON, see
docs/formats.md) is a Ward secret instead: \`encrypt\` creates it through the server when it does
not exist (check-and-set 0, so a concurrent run cannot overwrite it) or uses it; \`decrypt\` reads it.
The server and identity are those of operator commands (--server, --identity, WARD_SERVER,
WARD_IDENTITY, the deployment's ward.toml). \`ward run --unlock SRC:DST[:NAME]\` opens such a folder
for an app with the key NAME of its own APP/ENV (docs/run.md).

Modes and times are kept; symbolic links and special files are skipped with a warning. Files whose
destination already has the matching size and time are not rewritten. Every file is written to a
temporary name and renamed when complete, so a failed decryption leaves no partial plaintext.

rclone reads the result with a crypt remote of the same password, password2, filename_encryption
and directory_name_encryption (filename_encoding base32, suffix .bin). See docs/formats.md.`;

export function register(program: Command): void {
  const dir = program.command('dir').description('encrypt or decrypt a folder, names and contents, in the rclone crypt format');
  for (const action of ['encrypt', 'decrypt'] as const) {
    addContextOptions(dir.command(action))
      .description(action === 'encrypt' ? 'encrypt the folder SRC into DST' : 'decrypt the rclone crypt folder SRC into DST')
      .argument('<SRC>', action === 'encrypt' ? 'plaintext folder' : 'encrypted folder')
      .argument('<DST>', 'destination folder (created if missing)')
      .option('--key <APP/ENV/NAME>', action === 'encrypt' ? 'the folder key is this Ward secret (created if absent)' : 'the folder key is this Ward secret')
      .option('--password-file <FILE>', 'read the crypt password from FILE (env WARD_DIR_PASSWORD_FILE)')
      .option('--salt-file <FILE>', "read the salt (rclone's password2) from FILE")
      .option('--obscured', 'the password and salt files hold rclone-obscured values, as in rclone.conf')
      .addOption(new Option('--filename-encryption <MODE>', "rclone's filename_encryption").choices(['standard', 'off']).default('standard'))
      .addOption(new Option('--directory-name-encryption <BOOL>', "rclone's directory_name_encryption").choices(['true', 'false']).default('true'))
      .option('-j, --jobs <N>', 'files processed at once', '4')
      .addOption(new Option('--threads <N>', 'threads doing the crypto: 2 uses a second core, for ~20 MiB more memory').choices(['1', '2']).default('1'))
      .addHelpText('after', HELP)
      .action(async (src: string, dst: string, flags: DirFlags) => {
        const { runDir } = await import('../dir-impl.ts');
        await runDir(action, src, dst, flags);
      });
  }
}
