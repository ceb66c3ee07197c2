/**
 * The server's own age identity, for configuration sealed to the server (`ward server recipient`,
 * `ward secret import`, `[server] import_dir`; docs/sealed.md).
 *
 * Protected like a secret value: generated once (on the first start that holds the master key),
 * stored in the store as an envelope (src/crypto/envelope.ts) whose data key the master key wraps,
 * so every replica on the database shares it and a sealed server (no master key) cannot open it.
 * The associated data binds the envelope to this use, so no secret row can stand in for it. The
 * private key is unwrapped for each import and dropped afterwards; only the public recipient is
 * kept in memory.
 */
import { openEnvelope, sealEnvelope, type KeyWrapper } from '../crypto/envelope.ts';
import { parseIdentity, X25519Identity, type Identity } from '../formats/age/index.ts';
import type { ServerKeyRecord, Store } from '../store/types.ts';

export const SERVER_IDENTITY_KEY = 'age-identity';
const AAD = Buffer.from(`ward/server-key/v1\0${SERVER_IDENTITY_KEY}`);

export interface ServerIdentity {
  /** The `age1…` recipient; creates the identity if none is stored yet. */
  recipient(): Promise<string>;
  /**
   * The private identity, unwrapped now; if a former master key wrapped it (a master key rotation),
   * it is sealed again under the current one first. @throws the key provider's error when sealed
   */
  identity(): Promise<Identity>;
  /** Moves the stored identity under the current master key if a former one wraps it. */
  rewrap(): Promise<void>;
}

/**
 * `keys` wraps with the current master key and unwraps with any master the server still holds
 * (the KeyHierarchy opens former ones), so the identity follows a master key rotation.
 */
export function serverIdentity(store: Store, keys: KeyWrapper, now: () => number = Date.now): ServerIdentity {
  let stored: ServerKeyRecord | null = null;
  const ensure = async (): Promise<ServerKeyRecord> => {
    if (stored) return stored;
    stored = await store.getServerKey(SERVER_IDENTITY_KEY);
    if (stored) return stored;
    const fresh = X25519Identity.generate();
    const secret = Buffer.from(fresh.toString(), 'utf8');
    try {
      const envelope = await sealEnvelope(keys, secret, AAD);
      // another replica may have stored one meanwhile: the store keeps the first, and we use it
      stored = await store.initServerKey({ name: SERVER_IDENTITY_KEY, ...envelope, publicKey: fresh.recipient.toString(), createdAt: now() });
    } finally {
      secret.fill(0);
    }
    return stored;
  };
  return {
    async recipient() {
      return (await ensure()).publicKey;
    },
    async identity() {
      const record = await ensure();
      const secret = await openEnvelope(keys, record, AAD);
      try {
        if (record.keyId !== keys.keyId) {
          const envelope = await sealEnvelope(keys, secret, AAD);
          // false: another replica moved it first; read its record next time
          stored = (await store.rewrapServerKey(SERVER_IDENTITY_KEY, record.keyId, envelope)) ? { ...record, ...envelope } : null;
        }
        return parseIdentity(secret.toString('utf8'));
      } finally {
        secret.fill(0);
      }
    },
    async rewrap() {
      const record = await ensure();
      if (record.keyId !== keys.keyId) await this.identity();
    },
  };
}
