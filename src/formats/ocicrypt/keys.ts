/**
 * Key files for the `jwe` scheme, read as ocicrypt's utils.ParsePublicKey / ParsePrivateKey do,
 * plus what ocicrypt misses.
 *
 *   public:  PEM `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1), a certificate, DER SPKI, or a JWK
 *            (whose `alg` then chooses the key wrapping: RSA-OAEP, RSA-OAEP-256, ECDH-ES+A*KW)
 *   private: PEM/DER PKCS#8 (also encrypted), SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`, a JWK
 *
 * WARD: ocicrypt (as shipped in skopeo) ignores SEC1 EC private keys; Ward accepts them.
 * Only RSA (≥ 2048 bits) and EC P-256/P-384/P-521 keys are accepted.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject, JsonWebKey } from 'node:crypto';
import { WardError } from '../../errors.ts';

export const KEY_WRAP_ALGS = ['RSA-OAEP', 'RSA-OAEP-256', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'] as const;
export type KeyWrapAlg = (typeof KEY_WRAP_ALGS)[number];

export interface PublicJweKey {
  key: KeyObject;
  alg: KeyWrapAlg;
}

const keyError = (message: string, cause?: unknown) =>
  new WardError('ERR_OCICRYPT_KEY', message, cause === undefined ? {} : { cause });

function parseJwk(data: Buffer): JsonWebKey | undefined {
  const text = data.toString('utf8').trim();
  if (!text.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as JsonWebKey;
  } catch {
    // not JSON: fall through to PEM/DER
  }
  throw keyError('key file is not a valid JWK');
}

function checkKind(key: KeyObject, what: string): void {
  const t = key.asymmetricKeyType;
  if (t === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw keyError(`${what} is an RSA key shorter than 2048 bits`);
    return;
  }
  if (t === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'secp384r1' || curve === 'secp521r1') return;
    throw keyError(`${what} is on an unsupported curve ${String(curve)}`);
  }
  throw keyError(`${what} is a ${String(t)} key; jwe needs an RSA or EC (P-256, P-384, P-521) key`);
}

/** Reads a recipient's public key (PEM, DER or JWK) and the key wrapping it implies. */
export function parsePublicKey(data: Buffer): PublicJweKey {
  const jwk = parseJwk(data);
  let key: KeyObject;
  try {
    if (jwk) {
      // A private JWK also yields its public half.
      const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk;
      key = createPublicKey({ key: pub, format: 'jwk' });
    } else if (data.includes('-----BEGIN')) {
      key = createPublicKey(data);
    } else {
      key = createPublicKey({ key: data, format: 'der', type: 'spki' });
    }
  } catch (e) {
    throw keyError('not a public key in PEM, DER or JWK form', e);
  }
  checkKind(key, 'public key');
  const isRsa = key.asymmetricKeyType === 'rsa';
  let alg: KeyWrapAlg = isRsa ? 'RSA-OAEP' : 'ECDH-ES+A256KW';
  const jwkAlg: unknown = jwk?.alg;
  if (jwkAlg !== undefined) {
    if (typeof jwkAlg !== 'string' || !(KEY_WRAP_ALGS as readonly string[]).includes(jwkAlg) || jwkAlg.startsWith('RSA') !== isRsa) {
      throw keyError(`${String(jwkAlg)} is an unsupported JWE key algorithm for this key`);
    }
    alg = jwkAlg as KeyWrapAlg;
  }
  return { key, alg };
}

/**
 * Reads a private key (PKCS#8, SEC1, PKCS#1; PEM or DER; or JWK), decrypting it with `passphrase`
 * when it is encrypted.
 */
export function parsePrivateKey(data: Buffer, passphrase?: Buffer): KeyObject {
  const jwk = parseJwk(data);
  let key: KeyObject | undefined;
  let lastError: unknown;
  const attempts: Array<() => KeyObject> = jwk
    ? [() => createPrivateKey({ key: jwk, format: 'jwk' })]
    : data.includes('-----BEGIN')
      ? [() => createPrivateKey(passphrase ? { key: data, passphrase } : { key: data })]
      : (['pkcs8', 'sec1', 'pkcs1'] as const).map((type) => () =>
          createPrivateKey(passphrase ? { key: data, format: 'der', type, passphrase } : { key: data, format: 'der', type }));
  for (const attempt of attempts) {
    try {
      key = attempt();
      break;
    } catch (e) {
      lastError = e;
    }
  }
  if (!key) {
    const encrypted = data.includes('ENCRYPTED');
    throw keyError(encrypted ? 'cannot decrypt the private key: wrong or missing passphrase' : 'not a private key in PKCS#8, SEC1, PKCS#1 or JWK form', lastError);
  }
  checkKind(key, 'private key');
  return key;
}
