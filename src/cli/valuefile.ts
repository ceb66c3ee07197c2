/**
 * The implementation behind `ward env` and `ward config` (src/cli/commands/env.ts): reads the
 * file, maps flags onto src/formats/valuefile, writes the result atomically.
 */
import { existsSync, readFileSync } from 'node:fs';
import { WardError } from '../errors.ts';
import { parseIdentitiesFile, parseRecipient, parseRecipientsFile, type Identity, type Recipient } from '../formats/age/index.ts';
import { decryptValueFileText, encryptValueFile, formatFromPath, isEncryptedValueFile, type ValueFileFormat } from '../formats/valuefile/index.ts';
import { usageError } from './args.ts';
import type { ValueFileFlags } from './commands/env.ts';
import { withOutput } from './io.ts';

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new WardError('ERR_IO', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function formatOf(command: 'env' | 'config', file: string, flags: ValueFileFlags): ValueFileFormat {
  if (command === 'env') return 'env';
  const format = (flags.format as ValueFileFormat | undefined) ?? formatFromPath(file);
  if (format === null || format === 'env') throw usageError(`cannot tell the format of ${file} from its extension`, 'use --format toml|yaml|json, or ward env for .env files');
  return format;
}

function identities(flags: ValueFileFlags): Identity[] {
  return (flags.identity ?? []).flatMap((f) => parseIdentitiesFile(readText(f, 'identity file'), f));
}

function write(output: string | undefined, text: string, mode: number): Promise<void> {
  return withOutput(output, mode, (sink) => sink.write([Buffer.from(text, 'utf8')]));
}

export async function runValueFileEncrypt(command: 'env' | 'config', file: string, flags: ValueFileFlags): Promise<void> {
  const format = formatOf(command, file, flags);
  const names = flags.recipient ?? [];
  if (names.some((r) => r.startsWith('pgp:'))) throw usageError('value files are encrypted to age recipients only', 'use age1… recipients (ward keygen)');
  const recipients: Recipient[] = names.map((r) => parseRecipient(r));
  for (const f of flags.recipientsFile ?? []) {
    const listed = parseRecipientsFile(readText(f, 'recipients file'), f);
    recipients.push(...listed);
    names.push(...listed.map((r) => String(r)));
  }
  const text = readText(file, 'input');
  let previous: { text: string; identities: Identity[] } | undefined;
  if (flags.output !== undefined && flags.output !== '-' && existsSync(flags.output)) {
    const prev = readText(flags.output, 'previous version');
    if (isEncryptedValueFile(prev, format)) {
      if ((flags.identity ?? []).length === 0) throw usageError(`${flags.output} is already encrypted`, 'give -i IDENTITY to keep its unchanged values and key, or remove it first');
      previous = { text: prev, identities: identities(flags) };
    }
  }
  if (previous === undefined && recipients.length === 0) throw usageError('missing recipients', 'use -r RECIPIENT or -R FILE');
  await write(flags.output, await encryptValueFile(text, format, { recipients, recipientNames: names, previous }), 0o666);
}

export async function runValueFileDecrypt(command: 'env' | 'config', file: string, flags: ValueFileFlags): Promise<void> {
  const format = formatOf(command, file, flags);
  const ids = identities(flags);
  if (ids.length === 0) throw usageError('missing identities', 'use -i IDENTITY_FILE');
  await write(flags.output, await decryptValueFileText(readText(file, 'input'), format, ids), 0o600);
}
