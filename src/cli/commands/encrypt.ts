/** `ward encrypt`: age-compatible encryption, flags as the age CLI's. */
import type { Command } from 'commander';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function register(program: Command): void {
  program
    .command('encrypt')
    .description('encrypt a file to age recipients or with a passphrase (age v1 format)')
    .argument('[INPUT]', 'file to encrypt (default: stdin)')
    .option('-r, --recipient <RECIPIENT>', 'encrypt to this age1… recipient, or to the OpenPGP public keys in FILE with pgp:FILE (repeatable)', collect)
    .option('-R, --recipients-file <PATH>', 'encrypt to the recipients listed in PATH, one per line, # comments (repeatable)', collect)
    .option('-p, --passphrase', 'encrypt with a passphrase (scrypt), read from the terminal without echo')
    .option('--passphrase-file <FILE>', 'with -p: read the passphrase from the first line of FILE (env WARD_PASSPHRASE_FILE)')
    .option('--passphrase-fd <N>', 'with -p: read the passphrase from file descriptor N')
    .option('-a, --armor', 'write PEM-style ASCII armor instead of binary')
    .option('-o, --output <OUTPUT>', 'write to OUTPUT (atomically) instead of stdout')
    .addHelpText('after', '\nBinary output to a terminal is refused: use -a or -o. The output decrypts with\n`ward decrypt` and with `age -d`.\nWith pgp: recipients (all recipients must then be pgp:) the output is an OpenPGP\nmessage that `gpg -d` reads; -a armors it.')
    .action(async (input: string | undefined, opts: { recipient?: string[]; recipientsFile?: string[]; passphrase?: boolean; armor?: boolean; output?: string; passphraseFile?: string; passphraseFd?: string }) => {
      const { runEncrypt } = await import('../age.ts');
      await runEncrypt({
        recipients: opts.recipient ?? [],
        recipientsFiles: opts.recipientsFile ?? [],
        passphrase: opts.passphrase === true,
        armor: opts.armor === true,
        output: opts.output,
        input,
        passphraseFile: opts.passphraseFile,
        passphraseFd: opts.passphraseFd,
      });
    });
}
