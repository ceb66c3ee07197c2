/**
 * `ward env encrypt|decrypt FILE`: per-value encrypted .env files. The flags are shared with
 * `ward config` (config.ts), which does the same for TOML, YAML and JSON.
 */
import { Option, type Command } from 'commander';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export interface ValueFileFlags {
  recipient?: string[];
  recipientsFile?: string[];
  identity?: string[];
  output?: string;
  format?: string;
}

const HELP = `
Keys stay readable; each value becomes a WARD[v1:age:…] token (AES-256-GCM under a per-file key,
bound to its key path), the file key is age-encrypted to the recipients once, and a file MAC
detects a removed, added or reordered value. See docs/formats.md, "Per-value encrypted files".

Re-encrypting: when -o OUT already holds the encrypted version, give -i IDENTITY too. Unchanged
values then keep their ciphertext and the file key is kept (re-wrapped only when -r/-R name other
recipients), so a git diff shows only the values that changed, and an unchanged file is rewritten
identically. Without -r/-R the recipients of OUT are kept.`;

/** Declares `<name> encrypt|decrypt FILE` for value files of the given formats. */
export function registerValueFileCommand(program: Command, name: 'env' | 'config', what: string, formats: readonly string[]): void {
  const cmd = program.command(name).description(`encrypt or decrypt the values of ${what} files, keys left readable`);
  const withFormat = (c: Command): Command => (formats.length > 1 ? c.addOption(new Option('--format <FORMAT>', 'file format (default: from the extension)').choices([...formats])) : c);
  withFormat(cmd.command('encrypt'))
    .description(`encrypt every value of the ${what} file FILE`)
    .argument('<FILE>', `plaintext ${what} file`)
    .option('-r, --recipient <RECIPIENT>', 'encrypt to this age1… recipient (repeatable)', collect)
    .option('-R, --recipients-file <PATH>', 'encrypt to the recipients listed in PATH (repeatable)', collect)
    .option('-i, --identity <PATH>', 'identity that opens the existing OUT, to keep its unchanged values (repeatable)', collect)
    .option('-o, --output <OUT>', 'write to OUT (atomically) instead of stdout; an encrypted OUT is the previous version')
    .addHelpText('after', HELP)
    .action(async (file: string, flags: ValueFileFlags) => {
      const { runValueFileEncrypt } = await import('../valuefile.ts');
      await runValueFileEncrypt(name, file, flags);
    });
  withFormat(cmd.command('decrypt'))
    .description(`decrypt every value of the encrypted ${what} file FILE`)
    .argument('<FILE>', `encrypted ${what} file`)
    .option('-i, --identity <PATH>', 'identity file with AGE-SECRET-KEY-1… lines (repeatable)', collect)
    .option('-o, --output <OUT>', 'write to OUT (mode 0600, atomically) instead of stdout')
    .addHelpText('after', '\nExit code 3 when a value was edited, moved, removed or added, or no identity opens the file.')
    .action(async (file: string, flags: ValueFileFlags) => {
      const { runValueFileDecrypt } = await import('../valuefile.ts');
      await runValueFileDecrypt(name, file, flags);
    });
}

export function register(program: Command): void {
  registerValueFileCommand(program, 'env', '.env', ['env']);
}
