/**
 * Master-key providers. A provider holds (or reaches) the master key and wraps/unwraps data keys
 * for envelope encryption (src/crypto/envelope.ts); the key itself never leaves the provider.
 * Implementations: `file` (the embedded default). Passphrase, Shamir and PKCS#11 providers
 * implement the same interface.
 */
import type { KeyWrapper } from '../crypto/envelope.ts';

export interface KeyProvider extends KeyWrapper {
  /** Short name of the implementation, e.g. 'file'. */
  readonly kind: string;
  /** Forgets the key material held in memory. The provider is unusable afterwards. */
  close(): void;
}
