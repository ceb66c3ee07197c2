/**
 * OpenPGP messages (RFC 9580, and RFC 4880 as GnuPG 2.2 speaks it) for `ward encrypt -r pgp:FILE`
 * and `ward decrypt`: the public surface of src/formats/pgp. The packet work is OpenPGP.js v6
 * (npm `openpgp`, pure JS), loaded only when an OpenPGP key or message is actually met, so age
 * commands do not pay for it at start-up.
 *
 * What Ward writes: one SEIPD v1 packet (AES-256 with the MDC, as GnuPG 2.2 reads), uncompressed,
 * a binary literal packet with no file name, one PKESK per recipient key; ASCII-armored with -a.
 * Signing is out of scope. Streaming: encryption streams with flat memory. A SEIPD v1 message
 * (everything GnuPG 2.2 writes) is authenticated only by the MDC at its very end, so by default
 * decryption holds the whole plaintext in memory until the MDC verifies; with `streamUnverified`
 * (for a sink that throws everything away on failure, such as the CLI's temp file renamed only on
 * success) plaintext flows with flat memory and the MDC failure arrives as the final error. SEIPD
 * v2 (AEAD) messages are released chunk by chunk after each chunk's tag.
 */
import type * as OpenPgpModule from 'openpgp';
import type { Key, PrivateKey } from 'openpgp';
import { WardError } from '../../errors.ts';
import type { ByteSink, ByteSource } from '../age/index.ts';

export type { Key as PgpPublicKey, PrivateKey as PgpSecretKey } from 'openpgp';

type OpenPgp = typeof OpenPgpModule;
let lib: Promise<OpenPgp> | null = null;
const openpgp = (): Promise<OpenPgp> => (lib ??= import('openpgp'));

const ARMOR_PREFIX = '-----BEGIN PGP ';

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/**
 * What some bytes are: an armored OpenPGP block, binary OpenPGP packets (the first byte of a
 * packet has its top bit set; no age file or text starts so), or something else.
 */
export function sniff(head: Uint8Array): 'armored' | 'binary' | 'other' {
  let i = 0;
  while (i < head.length && isSpace(head[i]!)) i++;
  if (i < head.length && (head[i]! & 0x80) !== 0) return 'binary';
  return Buffer.from(head.subarray(i, i + ARMOR_PREFIX.length)).toString('latin1') === ARMOR_PREFIX ? 'armored' : 'other';
}

/** Whether a key file holds an OpenPGP key (armored or binary) rather than age keys. */
export function isOpenPgpData(data: Uint8Array): boolean {
  return sniff(data) !== 'other';
}

/**
 * Reads the first bytes of a source (enough to {@link sniff} it) and returns them with a source
 * that yields everything again from the start.
 */
export async function peek(source: ByteSource, want = 64): Promise<{ head: Buffer; source: ByteSource }> {
  const held: Buffer[] = [];
  let n = 0;
  let ended = false;
  while (n < want) {
    const b = await source.read();
    if (b === null) {
      ended = true;
      break;
    }
    held.push(Buffer.from(b)); // a source's buffer is only valid until its next read
    n += b.length;
    if (held.length === 1 && b.some((x) => !isSpace(x)) && n >= ARMOR_PREFIX.length) break;
  }
  const head = Buffer.concat(held);
  let replayed = false;
  return {
    head,
    source: {
      async read() {
        if (!replayed) {
          replayed = true;
          if (head.length > 0) return head;
        }
        return ended ? null : source.read();
      },
    },
  };
}

function keyError(name: string, what: string, cause?: unknown): WardError {
  return new WardError('ERR_PGP_KEY', `${name}: ${what}`, { cause, hint: 'export it with gpg --export [-a] KEYID (public) or gpg --export-secret-keys [-a] KEYID (secret)' });
}

/**
 * Reads the public keys of a key file (armored or binary; a secret key file works too) and checks
 * that each can encrypt now.
 * @throws WardError ERR_PGP_KEY naming the file, never its content
 */
export async function readPublicKeys(data: Uint8Array, name: string): Promise<Key[]> {
  const pgp = await openpgp();
  let keys: Key[];
  try {
    keys = sniff(data) === 'armored' ? await pgp.readKeys({ armoredKeys: Buffer.from(data).toString('utf8') }) : await pgp.readKeys({ binaryKeys: data });
  } catch (e) {
    throw keyError(name, 'not an OpenPGP key file', e);
  }
  for (const k of keys) {
    try {
      await k.getEncryptionKey();
    } catch (e) {
      throw keyError(name, `key ${k.getKeyID().toHex()} has no usable encryption key (revoked, expired, or sign-only)`, e);
    }
  }
  return keys.map((k) => (k.isPrivate() ? k.toPublic() : k));
}

/**
 * Reads the secret keys of a key file (armored or binary), possibly passphrase-protected.
 * @throws WardError ERR_PGP_KEY
 */
export async function readSecretKeys(data: Uint8Array, name: string): Promise<PrivateKey[]> {
  const pgp = await openpgp();
  try {
    return sniff(data) === 'armored' ? await pgp.readPrivateKeys({ armoredKeys: Buffer.from(data).toString('utf8') }) : await pgp.readPrivateKeys({ binaryKeys: data });
  } catch (e) {
    throw keyError(name, 'not an OpenPGP secret key file', e);
  }
}

function toWebStream(source: ByteSource): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const b = await source.read();
        if (b === null) controller.close();
        else controller.enqueue(Uint8Array.from(b)); // copy: the source reuses its buffers
      },
    },
    { highWaterMark: 0 },
  );
}

async function drain(stream: ReadableStream<Uint8Array | string>, sink: ByteSink): Promise<void> {
  for await (const chunk of stream) {
    await sink.write([typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)]);
  }
}

export interface PgpEncryptOptions {
  armor?: boolean;
}

/**
 * Encrypts everything `source` yields to `keys` into `sink` as one OpenPGP message.
 * @throws WardError ERR_PGP_KEY (no recipients)
 */
export async function encryptPgp(source: ByteSource, sink: ByteSink, keys: readonly Key[], options: PgpEncryptOptions = {}): Promise<void> {
  if (keys.length === 0) throw new WardError('ERR_PGP_KEY', 'no OpenPGP recipients');
  const pgp = await openpgp();
  const message = await pgp.createMessage({ binary: toWebStream(source), format: 'binary' });
  const config = { aeadProtect: false, preferredSymmetricAlgorithm: pgp.enums.symmetric.aes256, preferredCompressionAlgorithm: pgp.enums.compression.uncompressed };
  const out = options.armor
    ? await pgp.encrypt({ message, encryptionKeys: [...keys], format: 'armored', config })
    : await pgp.encrypt({ message, encryptionKeys: [...keys], format: 'binary', config });
  await drain(out as ReadableStream<Uint8Array | string>, sink);
}

/** Gives the passphrase for a protected secret key, asked for at most once per decryption. */
export type PgpPassphraseSource = () => Promise<Buffer>;

function messageError(e: unknown): WardError {
  if (e instanceof WardError) return e;
  const text = e instanceof Error ? e.message : String(e);
  if (/session key decryption failed|no decryption key packets/i.test(text)) return new WardError('ERR_PGP_NO_KEY', 'none of the OpenPGP secret keys opens the message', { cause: e });
  return new WardError('ERR_PGP_MESSAGE', `invalid OpenPGP message: ${text.replace(/^Error (decrypting|reading) message: /i, '').slice(0, 200)}`, { cause: e });
}

export interface PgpDecryptOptions {
  /** Release SEIPD v1 plaintext before the final MDC check: only for a sink discarded on failure. */
  streamUnverified?: boolean;
}

/**
 * Decrypts the OpenPGP message `source` yields (armored or binary, detected) into `sink` with
 * `keys`. Only keys the message is encrypted to are unlocked, so the passphrase is asked for only
 * when a protected key is needed.
 * @throws WardError ERR_PGP_MESSAGE, ERR_PGP_NO_KEY, ERR_PGP_PASSPHRASE
 */
export async function decryptPgp(source: ByteSource, sink: ByteSink, keys: readonly PrivateKey[], passphrase: PgpPassphraseSource, options: PgpDecryptOptions = {}): Promise<void> {
  const pgp = await openpgp();
  const peeked = await peek(source);
  const kind = sniff(peeked.head);
  if (kind === 'other') throw new WardError('ERR_PGP_MESSAGE', 'invalid OpenPGP message: neither armored nor binary OpenPGP data');
  const bytes = toWebStream(peeked.source);
  let message;
  try {
    message = kind === 'armored' ? await pgp.readMessage({ armoredMessage: bytes.pipeThrough(new TextDecoderStream()) }) : await pgp.readMessage({ binaryMessage: bytes });
  } catch (e) {
    throw messageError(e);
  }
  const ids = message.getEncryptionKeyIDs();
  const wildcard = ids.some((id) => id.toHex() === '0000000000000000'); // gpg --throw-keyids
  const candidates = keys.filter((k) => wildcard || ids.some((id) => k.getKeys(id).length > 0));
  if (candidates.length === 0) throw new WardError('ERR_PGP_NO_KEY', `none of the OpenPGP secret keys opens the message (it is encrypted to ${ids.map((id) => id.toHex()).join(', ') || 'no key'})`);
  const unlocked: PrivateKey[] = [];
  let pass: Buffer | null = null;
  try {
    for (const k of candidates) {
      if (k.isDecrypted()) {
        unlocked.push(k);
        continue;
      }
      pass ??= await passphrase();
      try {
        unlocked.push(await pgp.decryptKey({ privateKey: k, passphrase: pass.toString('utf8') }));
      } catch (e) {
        throw new WardError('ERR_PGP_PASSPHRASE', `the passphrase does not unlock OpenPGP key ${k.getKeyID().toHex()}`, { cause: e });
      }
    }
  } finally {
    pass?.fill(0);
  }
  try {
    const { data } = await pgp.decrypt({ message, decryptionKeys: unlocked, format: 'binary', config: { allowUnauthenticatedStream: options.streamUnverified === true } });
    await drain(data as ReadableStream<Uint8Array>, sink);
  } catch (e) {
    throw messageError(e);
  }
}
