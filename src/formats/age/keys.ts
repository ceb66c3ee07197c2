/**
 * Recipient and identity strings and files, as the age CLI reads them: `age1…` (X25519),
 * `age1pq1…` (mlkem768x25519); `AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`. Files hold one per
 * line; blank lines and `#` comments are ignored (age-keygen writes `# created:` and
 * `# public key:` comments). Errors name the line, never an identity's content.
 */
import { WardError } from '../../errors.ts';
import { HybridIdentity, HybridRecipient } from './hybrid.ts';
import { X25519Identity, X25519Recipient, type Identity, type Recipient } from './recipients.ts';

/** @throws WardError ERR_AGE_RECIPIENT */
export function parseRecipient(s: string): Recipient {
  return s.startsWith('age1pq1') ? HybridRecipient.parse(s) : X25519Recipient.parse(s);
}

/** @throws WardError ERR_AGE_IDENTITY */
export function parseIdentity(s: string): Identity {
  return s.startsWith('AGE-SECRET-KEY-PQ-1') ? HybridIdentity.parse(s) : X25519Identity.parse(s);
}

function parseLines<T>(text: string, parse: (line: string) => T, onError: (line: number) => WardError, onEmpty: () => WardError): T[] {
  const out: T[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      out.push(parse(line));
    } catch {
      throw onError(i + 1);
    }
  });
  if (out.length === 0) throw onEmpty();
  return out;
}

/** @throws WardError ERR_AGE_RECIPIENT naming the file and line */
export function parseRecipientsFile(text: string, name: string): Recipient[] {
  return parseLines(
    text,
    parseRecipient,
    (n) => new WardError('ERR_AGE_RECIPIENT', `${name}: line ${n}: invalid recipient`, { hint: 'recipients files hold one age1… recipient per line' }),
    () => new WardError('ERR_AGE_RECIPIENT', `${name}: no recipients found`),
  );
}

/** @throws WardError ERR_AGE_IDENTITY naming the file and line, never its content */
export function parseIdentitiesFile(text: string, name: string): Identity[] {
  return parseLines(
    text,
    parseIdentity,
    (n) => new WardError('ERR_AGE_IDENTITY', `${name}: line ${n}: invalid identity`, { hint: 'identity files hold AGE-SECRET-KEY-1… lines, as written by ward keygen' }),
    () => new WardError('ERR_AGE_IDENTITY', `${name}: no identities found`),
  );
}
