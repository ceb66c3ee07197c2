/**
 * Master-key providers. A provider holds (or reaches) the master key and wraps/unwraps data keys
 * for envelope encryption (src/crypto/envelope.ts); the key itself never leaves the provider.
 * Implementations: `file` (the embedded default, src/keys/file.ts), `passphrase` and `shamir`
 * (a sealed key file unsealed at run time, src/keys/sealed.ts) and `pkcs11` (a non-extractable
 * key in a token, src/keys/pkcs11.ts). src/keys/index.ts picks one from `[keys]` in ward.toml.
 *
 * Every provider can be sealed: {@link KeyProvider.seal} drops the key from memory at once, after
 * which wrap/unwrap throw ERR_KEY_SEALED until {@link KeyProvider.unseal} succeeds again.
 */
import type { KeyWrapper } from '../crypto/envelope.ts';

/** Where an unseal stands: `have` of `need` secrets given (a passphrase is 1 of 1). */
export interface UnsealProgress {
  sealed: boolean;
  have: number;
  need: number;
}

export interface KeyProvider extends KeyWrapper {
  /** Short name of the implementation, e.g. 'file'. */
  readonly kind: string;
  /** True while wrap/unwrap would throw ERR_KEY_SEALED. */
  readonly sealed: boolean;
  /** Drops the key (and any partial unseal input) from memory at once. Idempotent. */
  seal(): void;
  /**
   * Unseals. `secret` is the passphrase (`passphrase`), one share (`shamir`), or unused (`file`
   * reloads its file, `pkcs11` logs in to the token again). The caller zeroes `secret` afterwards.
   * @throws WardError ERR_KEY_WRONG_PASSPHRASE, ERR_SHAMIR_*, ERR_KEY_*, ERR_PKCS11_*
   */
  unseal(secret?: Buffer): Promise<UnsealProgress>;
  /** Forgets the key material held in memory and releases resources. Unusable afterwards. */
  close(): void;
}
