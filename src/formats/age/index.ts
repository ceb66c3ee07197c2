/**
 * age v1 (https://c2sp.org/age): the public surface of src/formats/age. Everything else in this
 * folder is internal.
 */
export { createDecryptor, createEncryptor, decrypt, encrypt, unwrapFileKey, transformBuffer, type DecryptOptions, type EncryptOptions } from './age.ts';
export { ArmorDecoder, ArmorEncoder } from './armor.ts';
export { parseHeader, serializeHeader, type Header, type Stanza } from './header.ts';
export { fdSink, fdSource, pump, streamSink, streamSource, type ByteSink, type ByteSource } from './io.ts';
export {
  MAX_SCRYPT_LOG_N,
  DEFAULT_SCRYPT_LOG_N,
  ScryptIdentity,
  ScryptRecipient,
  X25519Identity,
  X25519Recipient,
  type Identity,
  type PassphraseSource,
  type Recipient,
} from './recipients.ts';
export { HybridIdentity, HybridRecipient } from './hybrid.ts';
export { parseIdentitiesFile, parseIdentity, parseRecipient, parseRecipientsFile } from './keys.ts';
export { CHUNK_SIZE, StreamDecryptor, StreamEncryptor, encryptedSize, plaintextSize, type Transformer } from './stream.ts';
