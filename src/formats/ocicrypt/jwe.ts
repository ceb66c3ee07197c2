/**
 * JWE (RFC 7516) in JSON serialization, as ocicrypt's `jwe` key wrapper writes it with go-jose
 * (keywrap/jwe/keywrapper_jwe.go at c3436fd): content encryption A256GCM, one recipient per
 * public key, key management RSA-OAEP (RSA default), RSA-OAEP-256, ECDH-ES+A256KW (EC default,
 * also +A128KW/+A192KW from a JWK `alg`).
 *
 *   one recipient:  {"protected":b64u({"alg","enc"[,"epk"]}),"encrypted_key","iv","ciphertext","tag"}  (flattened)
 *   several:        {"protected":b64u({"enc"}),"recipients":[{"header":{"alg"[,"epk"]},"encrypted_key"}…],"iv","ciphertext","tag"}
 *   AAD = ASCII(protected) [ "." aad ]
 *
 * ECDH-ES key wrapping uses the Concat KDF of RFC 7518 §4.6.2 (SHA-256, AlgorithmID = alg,
 * PartyUInfo/PartyVInfo from `apu`/`apv`, SuppPubInfo = key length in bits) and AES Key Wrap.
 *
 * WARD: PBES2-HS512+A256KW (RFC 7518 §4.8) recipients, for `--passphrase`: ocicrypt has no such
 * recipient, so images using it decrypt with Ward only. Decryption also accepts PBES2-HS256+A128KW
 * and PBES2-HS384+A192KW, iteration counts up to {@link PBES2_MAX_ITERATIONS}, and content
 * encryption A128/A192/A256GCM and A128CBC-HS256/A192CBC-HS384/A256CBC-HS512 (all RFC 7518 §5.1,
 * as ocicrypt does).
 */
import {
  createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, createSecretKey, diffieHellman,
  generateKeyPairSync, pbkdf2Sync, privateDecrypt, publicEncrypt, randomBytes, timingSafeEqual, constants,
} from 'node:crypto';
import type { KeyObject, JsonWebKey } from 'node:crypto';
import { WardError } from '../../errors.ts';
import type { KeyWrapAlg } from './keys.ts';

/** PBKDF2-SHA512 iterations Ward writes (OWASP 2023 guidance for PBKDF2-HMAC-SHA512 is 210,000). */
export const PBES2_ITERATIONS = 600_000;
/** The most PBKDF2 iterations Ward computes for a received JWE (bounds the work a file can demand). */
export const PBES2_MAX_ITERATIONS = 10_000_000;
const PBES2_ALG = 'PBES2-HS512+A256KW';

/** Whom a layer key is encrypted to. */
export type JweRecipient =
  | { kind: 'public'; key: KeyObject; alg: KeyWrapAlg }
  | { kind: 'passphrase'; passphrase: Buffer; iterations?: number };

/** What can open a JWE. */
export type JweKey = { kind: 'private'; key: KeyObject } | { kind: 'passphrase'; passphrase: Buffer };

type Header = Record<string, unknown>;

const formatError = (what: string) => new WardError('ERR_OCICRYPT_FORMAT', `invalid JWE: ${what}`);
const b64u = (b: Buffer) => b.toString('base64url');

function fromB64u(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw formatError(what);
  return Buffer.from(s, 'base64url');
}

const AES_KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
const kwBits = (alg: string) => Number(/A(128|192|256)KW$/.exec(alg)?.[1] ?? 0);

function aesKeyWrap(kek: Buffer, cek: Buffer): Buffer {
  const c = createCipheriv(`id-aes${kek.length * 8}-wrap`, createSecretKey(kek), AES_KW_IV);
  return Buffer.concat([c.update(cek), c.final()]);
}

/** null when the integrity check fails (not this recipient's key). */
function aesKeyUnwrap(kek: Buffer, wrapped: Buffer): Buffer | null {
  try {
    const d = createDecipheriv(`id-aes${kek.length * 8}-wrap`, createSecretKey(kek), AES_KW_IV);
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch {
    return null;
  }
}

function lengthPrefixed(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** RFC 7518 §4.6.2 Concat KDF with SHA-256. */
export function concatKdf(z: Buffer, alg: string, bits: number, apu: Buffer, apv: Buffer): Buffer {
  const supp = Buffer.alloc(4);
  supp.writeUInt32BE(bits);
  const otherInfo = Buffer.concat([lengthPrefixed(Buffer.from(alg)), lengthPrefixed(apu), lengthPrefixed(apv), supp]);
  const out: Buffer[] = [];
  for (let counter = 1; out.length * 32 < bits / 8; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(createHash('sha256').update(c).update(z).update(otherInfo).digest());
  }
  return Buffer.concat(out).subarray(0, bits / 8);
}

/**
 * Derived PBES2 key-encryption keys, per passphrase buffer and (alg, p2c, p2s): an image's layers
 * share one passphrase, so PBKDF2 runs once per copy instead of once per layer.
 */
const kekCache = new WeakMap<Buffer, Map<string, Buffer>>();
/** The salt Ward writes for a passphrase buffer, reused across the layers of one copy. */
const saltFor = new WeakMap<Buffer, Buffer>();

function pbes2Kek(alg: string, passphrase: Buffer, p2s: Buffer, p2c: number): Buffer {
  const m = /^PBES2-HS(256|384|512)\+A(128|192|256)KW$/.exec(alg);
  if (!m) throw new WardError('ERR_OCICRYPT_UNSUPPORTED', `unsupported JWE algorithm ${alg}`);
  let cache = kekCache.get(passphrase);
  if (!cache) kekCache.set(passphrase, (cache = new Map()));
  const id = `${alg}|${p2c}|${p2s.toString('hex')}`;
  let kek = cache.get(id);
  if (!kek) {
    const salt = Buffer.concat([Buffer.from(alg), Buffer.from([0]), p2s]);
    kek = pbkdf2Sync(passphrase, salt, p2c, Number(m[2]) / 8, `sha${m[1]}`);
    cache.set(id, kek);
  }
  return kek;
}

const OAEP_HASH: Record<string, string> = { 'RSA-OAEP': 'sha1', 'RSA-OAEP-256': 'sha256' };

function wrapCek(r: JweRecipient, cek: Buffer): { header: Header; encryptedKey: Buffer } {
  if (r.kind === 'passphrase') {
    let p2s = saltFor.get(r.passphrase);
    if (!p2s) saltFor.set(r.passphrase, (p2s = randomBytes(16)));
    const p2c = r.iterations ?? PBES2_ITERATIONS;
    return { header: { alg: PBES2_ALG, p2c, p2s: b64u(p2s) }, encryptedKey: aesKeyWrap(pbes2Kek(PBES2_ALG, r.passphrase, p2s, p2c), cek) };
  }
  const hash = OAEP_HASH[r.alg];
  if (hash) {
    const encryptedKey = publicEncrypt({ key: r.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, cek);
    return { header: { alg: r.alg }, encryptedKey };
  }
  const curve = r.key.asymmetricKeyDetails?.namedCurve;
  if (!curve) throw new TypeError('ECDH-ES recipient needs an EC public key');
  const eph = generateKeyPairSync('ec', { namedCurve: curve });
  const z = diffieHellman({ privateKey: eph.privateKey, publicKey: r.key });
  const kek = concatKdf(z, r.alg, kwBits(r.alg), Buffer.alloc(0), Buffer.alloc(0));
  const { kty, crv, x, y } = eph.publicKey.export({ format: 'jwk' });
  return { header: { alg: r.alg, epk: { kty, crv, x, y } }, encryptedKey: aesKeyWrap(kek, cek) };
}

/** Encrypts `plaintext` to every recipient (A256GCM), in ocicrypt's JSON serialization. */
export function encryptJwe(plaintext: Buffer, recipients: readonly JweRecipient[]): string {
  if (recipients.length === 0) throw new TypeError('encryptJwe needs at least one recipient');
  const cek = randomBytes(32);
  const wrapped = recipients.map((r) => wrapCek(r, cek));
  const single = wrapped.length === 1 ? wrapped[0] : undefined;
  // go-jose moves a single recipient's header into the protected header.
  const protectedHeader = b64u(Buffer.from(JSON.stringify({ ...(single?.header ?? {}), enc: 'A256GCM' })));
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', createSecretKey(cek), iv);
  c.setAAD(Buffer.from(protectedHeader, 'ascii'));
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  const tail = { iv: b64u(iv), ciphertext: b64u(ciphertext), tag: b64u(c.getAuthTag()) };
  cek.fill(0);
  if (single) return JSON.stringify({ protected: protectedHeader, encrypted_key: b64u(single.encryptedKey), ...tail });
  return JSON.stringify({
    protected: protectedHeader,
    recipients: wrapped.map((w) => ({ header: w.header, encrypted_key: b64u(w.encryptedKey) })),
    ...tail,
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

function unwrapCek(header: Header, encryptedKey: Buffer, key: JweKey): Buffer | null {
  const alg = header.alg;
  if (typeof alg !== 'string') throw formatError('recipient without alg');
  if (alg.startsWith('PBES2-')) {
    if (key.kind !== 'passphrase') return null;
    const p2c = header.p2c;
    if (typeof p2c !== 'number' || !Number.isInteger(p2c) || p2c < 1) throw formatError('bad p2c');
    if (p2c > PBES2_MAX_ITERATIONS) throw new WardError('ERR_OCICRYPT_UNSUPPORTED', `PBES2 iteration count ${p2c} above the accepted bound`);
    return aesKeyUnwrap(pbes2Kek(alg, key.passphrase, fromB64u(header.p2s, 'bad p2s'), p2c), encryptedKey);
  }
  if (key.kind !== 'private') return null;
  const hash = OAEP_HASH[alg];
  if (hash) {
    if (key.key.asymmetricKeyType !== 'rsa') return null;
    try {
      return privateDecrypt({ key: key.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, encryptedKey);
    } catch {
      return null;
    }
  }
  const bits = kwBits(alg);
  if (!alg.startsWith('ECDH-ES+') || !bits) throw new WardError('ERR_OCICRYPT_UNSUPPORTED', `unsupported JWE algorithm ${alg}`);
  if (key.key.asymmetricKeyType !== 'ec') return null;
  if (!isObject(header.epk)) throw formatError('ECDH-ES without epk');
  let epk: KeyObject;
  try {
    epk = createPublicKey({ key: header.epk as JsonWebKey, format: 'jwk' });
  } catch {
    throw formatError('bad epk');
  }
  if (epk.asymmetricKeyDetails?.namedCurve !== key.key.asymmetricKeyDetails?.namedCurve) return null;
  const z = diffieHellman({ privateKey: key.key, publicKey: epk });
  const apu = header.apu === undefined ? Buffer.alloc(0) : fromB64u(header.apu, 'bad apu');
  const apv = header.apv === undefined ? Buffer.alloc(0) : fromB64u(header.apv, 'bad apv');
  return aesKeyUnwrap(concatKdf(z, alg, bits, apu, apv), encryptedKey);
}

function decryptContent(enc: unknown, cek: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Buffer {
  const gcm = /^A(128|192|256)GCM$/.exec(String(enc));
  const cbc = /^A(128|192|256)CBC-HS(256|384|512)$/.exec(String(enc));
  const fail = () => new WardError('ERR_OCICRYPT_FORMAT', 'JWE content failed its integrity check');
  if (gcm) {
    if (cek.length * 8 !== Number(gcm[1]) || iv.length !== 12 || tag.length !== 16) throw fail();
    try {
      const d = createDecipheriv(`aes-${gcm[1]}-gcm` as 'aes-256-gcm', createSecretKey(cek), iv);
      d.setAAD(aad);
      d.setAuthTag(tag);
      return Buffer.concat([d.update(ciphertext), d.final()]);
    } catch {
      throw fail();
    }
  }
  if (cbc && cek.length * 4 === Number(cbc[1])) {
    // RFC 7518 §5.2.2: MAC key first half, ENC key second half; tag = first half of HMAC(AAD‖IV‖C‖AL).
    const half = cek.length / 2;
    const al = Buffer.alloc(8);
    al.writeBigUInt64BE(BigInt(aad.length * 8));
    const mac = createHmac(`sha${cbc[2]}`, cek.subarray(0, half)).update(aad).update(iv).update(ciphertext).update(al).digest().subarray(0, half);
    if (tag.length !== half || !timingSafeEqual(mac, tag)) throw fail();
    try {
      const d = createDecipheriv(`aes-${cbc[1]}-cbc`, createSecretKey(cek.subarray(half)), iv);
      return Buffer.concat([d.update(ciphertext), d.final()]);
    } catch {
      throw fail();
    }
  }
  throw new WardError('ERR_OCICRYPT_UNSUPPORTED', `unsupported JWE content encryption ${String(enc)}`);
}

/**
 * Opens a JWE (JSON serialization, flattened or general) with the first key that fits.
 * Returns null when none of `keys` opens it; throws ERR_OCICRYPT_FORMAT when it is malformed.
 */
export function decryptJwe(serialized: Buffer | string, keys: readonly JweKey[]): Buffer | null {
  let jwe: unknown;
  try {
    jwe = JSON.parse(typeof serialized === 'string' ? serialized : new TextDecoder('utf-8', { fatal: true }).decode(serialized));
  } catch {
    throw formatError('not JSON');
  }
  if (!isObject(jwe) || typeof jwe.protected !== 'string') throw formatError('not a JWE JSON serialization');
  let prot: unknown;
  try {
    prot = JSON.parse(fromB64u(jwe.protected, 'bad protected header').toString('utf8'));
  } catch (e) {
    throw e instanceof WardError ? e : formatError('bad protected header');
  }
  if (!isObject(prot)) throw formatError('bad protected header');
  const shared = isObject(jwe.unprotected) ? jwe.unprotected : {};
  const recipients: Array<{ header: Header; encrypted_key: unknown }> = Array.isArray(jwe.recipients)
    ? jwe.recipients.map((r) => {
      if (!isObject(r)) throw formatError('bad recipient');
      return { header: isObject(r.header) ? r.header : {}, encrypted_key: r.encrypted_key };
    })
    : [{ header: isObject(jwe.header) ? jwe.header : {}, encrypted_key: jwe.encrypted_key }];
  const iv = fromB64u(jwe.iv, 'bad iv');
  const ciphertext = fromB64u(jwe.ciphertext, 'bad ciphertext');
  const tag = fromB64u(jwe.tag, 'bad tag');
  const aad = Buffer.from(typeof jwe.aad === 'string' ? `${jwe.protected}.${jwe.aad}` : jwe.protected, 'ascii');
  for (const r of recipients) {
    const header = { ...r.header, ...shared, ...prot };
    const encryptedKey = fromB64u(r.encrypted_key ?? '', 'bad encrypted_key');
    for (const key of keys) {
      const cek = unwrapCek(header, encryptedKey, key);
      if (cek) {
        try {
          return decryptContent(header.enc, cek, iv, ciphertext, tag, aad);
        } finally {
          cek.fill(0);
        }
      }
    }
  }
  return null;
}
