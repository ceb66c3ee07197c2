/** `ward decrypt`: age-compatible decryption, flags as the age CLI's. */
import type { Command } from 'commander';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function register(program: Command): void {
  program
    .command('decrypt')
    .description('decrypt an age file or an OpenPGP message (binary or armored) with identities or a passphrase')
    .argument('[INPUT]', 'file to decrypt (default: stdin)')
    .option('-i, --identity <PATH>', 'identity file with AGE-SECRET-KEY-1… lines, or an OpenPGP secret key file (repeatable)', collect)
    .option('--passphrase-file <FILE>', 'for passphrase-encrypted files: read the passphrase from the first line of FILE (env WARD_PASSPHRASE_FILE)')
    .option('--passphrase-fd <N>', 'for passphrase-encrypted files: read the passphrase from file descriptor N')
    .option('-o, --output <OUTPUT>', 'write to OUTPUT instead of stdout; nothing is left behind if decryption fails')
    .addHelpText('after', '\nA passphrase is asked for (on the terminal, without echo) only when the file is\npassphrase-encrypted, or when a protected OpenPGP secret key is needed. The input\nformat (age or OpenPGP) is detected. Exit code 3 when decryption fails.')
    .action(async (input: string | undefined, opts: { identity?: string[]; output?: string; passphraseFile?: string; passphraseFd?: string }) => {
      const { runDecrypt } = await import('../age.ts');
      await runDecrypt({ identities: opts.identity ?? [], output: opts.output, input, passphraseFile: opts.passphraseFile, passphraseFd: opts.passphraseFd });
    });
}
