/**
 * The `pkcs11` key provider: the master key is an AES-256 secret key object in a PKCS#11 token
 * (an HSM, a smart card, SoftHSM), generated there with CKA_SENSITIVE true and CKA_EXTRACTABLE
 * false, so its value never exists outside the token. Data keys are wrapped inside the token with
 * CKM_AES_GCM (PKCS#11 v2.40 §2.12.3): the wrapped layout and associated data are those of the
 * `file` provider (src/keys/file.ts), version byte 0x01 ‖ IV (12) ‖ ciphertext (32) ‖ tag (16), so
 * the wrapped data keys look alike whoever holds the key. The IV is random, chosen by Ward
 * (WARD: tokens that insist on generating GCM IVs themselves are not supported).
 *
 * The key is found by its CKA_LABEL (default `ward-master`) on the token with the configured
 * label, after a user login. Its key id is `pkcs11:` + hex of its CKA_ID (8 random bytes set at
 * generation). seal() logs out and closes the session; unseal() logs in again.
 *
 * `pkcs11js` (a native addon) is loaded on first use only, so other providers work where it was
 * not built.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as P11 from 'pkcs11js';
import { WardError } from '../errors.ts';
import { wrapAad } from './file.ts';
import type { KeyProvider, UnsealProgress } from './provider.ts';

type Lib = P11.PKCS11;
type Pkcs11Module = typeof P11;

const WRAP_VERSION = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;
const ID_BYTES = 8;
export const DEFAULT_PKCS11_KEY_LABEL = 'ward-master';

export interface Pkcs11Options {
  /** Path of the PKCS#11 module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  /** Label of the token holding the key. */
  token: string;
  /** CKA_LABEL of the master key; default `ward-master`. */
  label?: string;
  /** Reads the user PIN (from a file or the environment); called at open and on unseal(). */
  pin: () => Buffer;
}

let p11: Pkcs11Module | undefined;
const loaded = new Map<string, { lib: Lib; refs: number }>();

function binding(): Pkcs11Module {
  if (!p11) {
    try {
      p11 = createRequire(import.meta.url)('pkcs11js') as Pkcs11Module;
    } catch (e) {
      throw new WardError('ERR_PKCS11_MODULE', 'the pkcs11js addon is not available', { cause: e, hint: 'reinstall with npm ci (it builds with node-gyp: needs g++, make, python3)' });
    }
  }
  return p11;
}

function ckr(e: unknown): number {
  return typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1;
}

function failed(fn: string, e: unknown): WardError {
  const name = e instanceof Error ? e.message.split('\n')[0] : 'error';
  return new WardError('ERR_PKCS11_OPERATION', `${fn} failed: ${name}`, { cause: e });
}

/** Loads and initializes a module once per process; {@link release} finalizes it. */
function acquire(path: string): Lib {
  const p = binding();
  const have = loaded.get(path);
  if (have) {
    have.refs++;
    return have.lib;
  }
  const lib = new p.PKCS11();
  try {
    lib.load(path);
  } catch (e) {
    throw new WardError('ERR_PKCS11_MODULE', `cannot load the PKCS#11 module ${path}`, { cause: e, hint: 'check [keys] module in ward.toml' });
  }
  try {
    lib.C_Initialize();
  } catch (e) {
    if (ckr(e) !== p.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      lib.close();
      throw new WardError('ERR_PKCS11_MODULE', `cannot initialize the PKCS#11 module ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
  loaded.set(path, { lib, refs: 1 });
  return lib;
}

function release(path: string): void {
  const have = loaded.get(path);
  if (!have || --have.refs > 0) return;
  loaded.delete(path);
  try {
    have.lib.C_Finalize();
  } finally {
    have.lib.close();
  }
}

function findSlot(lib: Lib, token: string): Buffer {
  const labels: string[] = [];
  for (const slot of lib.C_GetSlotList(true)) {
    const label = lib.C_GetTokenInfo(slot).label.trimEnd();
    if (label === token) return slot;
    labels.push(JSON.stringify(label));
  }
  throw new WardError('ERR_PKCS11_TOKEN_NOT_FOUND', `no PKCS#11 token labelled ${JSON.stringify(token)} is present (present: ${labels.join(', ') || 'none'})`, {
    hint: 'check [keys] token in ward.toml and that the token is connected',
  });
}

function openSession(lib: Lib, slot: Buffer, pin: Buffer, rw: boolean): Buffer {
  const p = binding();
  const session = lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION | (rw ? p.CKF_RW_SESSION : 0));
  try {
    lib.C_Login(session, p.CKU_USER, pin.toString('utf8'));
  } catch (e) {
    const code = ckr(e);
    if (code !== p.CKR_USER_ALREADY_LOGGED_IN) {
      lib.C_CloseSession(session);
      if (code === p.CKR_PIN_INCORRECT || code === p.CKR_PIN_LEN_RANGE || code === p.CKR_PIN_LOCKED || code === p.CKR_USER_PIN_NOT_INITIALIZED) {
        throw new WardError('ERR_PKCS11_LOGIN', `the token refused the PIN (${(e as Error).message})`, { hint: 'check the PIN file or WARD_PKCS11_PIN' });
      }
      throw failed('C_Login', e);
    }
  } finally {
    pin.fill(0);
  }
  return session;
}

function findKeys(lib: Lib, session: Buffer, label: string): Buffer[] {
  const p = binding();
  lib.C_FindObjectsInit(session, [
    { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
    { type: p.CKA_LABEL, value: label },
  ]);
  try {
    return lib.C_FindObjects(session, 2);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** What the token says about a key: the properties Ward relies on. */
export interface Pkcs11KeyAttributes {
  id: Buffer;
  keyType: number;
  valueLength: number;
  sensitive: boolean;
  extractable: boolean;
  neverExtractable: boolean;
}

function attributes(lib: Lib, session: Buffer, key: Buffer): Pkcs11KeyAttributes {
  const p = binding();
  const [id, type, len, sensitive, extractable, never] = lib.C_GetAttributeValue(session, key, [
    { type: p.CKA_ID }, { type: p.CKA_KEY_TYPE }, { type: p.CKA_VALUE_LEN }, { type: p.CKA_SENSITIVE }, { type: p.CKA_EXTRACTABLE }, { type: p.CKA_NEVER_EXTRACTABLE },
  ]).map((a) => a.value);
  const ulong = (b: Buffer | undefined) => (b && b.length > 0 ? b.readUIntLE(0, Math.min(b.length, 6)) : -1);
  const bool = (b: Buffer | undefined) => b?.length === 1 && b[0] === 1;
  return { id: id ?? Buffer.alloc(0), keyType: ulong(type), valueLength: ulong(len), sensitive: bool(sensitive), extractable: bool(extractable), neverExtractable: bool(never) };
}

function checkKey(a: Pkcs11KeyAttributes, label: string): string {
  const p = binding();
  if (a.keyType !== p.CKK_AES || a.valueLength !== 32) throw new WardError('ERR_KEY_INVALID', `the token key ${JSON.stringify(label)} is not an AES-256 key`);
  if (!a.sensitive || a.extractable) {
    throw new WardError('ERR_KEY_INVALID', `the token key ${JSON.stringify(label)} is extractable or not sensitive: refusing it`, {
      hint: 'generate the master key with Ward (it sets CKA_SENSITIVE true, CKA_EXTRACTABLE false)',
    });
  }
  if (a.id.length === 0) throw new WardError('ERR_KEY_INVALID', `the token key ${JSON.stringify(label)} has no CKA_ID`);
  return `pkcs11:${a.id.toString('hex')}`;
}

/** Runs `fn` with a logged-in session on the configured token, then closes everything. */
function withSession<T>(options: Pkcs11Options, rw: boolean, fn: (lib: Lib, session: Buffer) => T): T {
  const lib = acquire(options.module);
  try {
    const session = openSession(lib, findSlot(lib, options.token), options.pin(), rw);
    try {
      return fn(lib, session);
    } finally {
      lib.C_CloseSession(session);
    }
  } finally {
    release(options.module);
  }
}

/**
 * Generates the master key in the token: AES-256, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true,
 * CKA_EXTRACTABLE false, usable only to encrypt and decrypt. Refuses when a key with the label
 * exists.
 * @returns the key id
 * @throws WardError ERR_EXISTS, ERR_PKCS11_*
 */
export function generatePkcs11Key(options: Pkcs11Options): { keyId: string } {
  const p = binding();
  const label = options.label ?? DEFAULT_PKCS11_KEY_LABEL;
  return withSession(options, true, (lib, session) => {
    if (findKeys(lib, session, label).length > 0) {
      throw new WardError('ERR_EXISTS', `the token already holds a key labelled ${JSON.stringify(label)}`, { hint: 'a master key is never replaced; choose another label' });
    }
    let key: Buffer;
    try {
      key = lib.C_GenerateKey(session, { mechanism: p.CKM_AES_KEY_GEN }, [
        { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
        { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
        { type: p.CKA_VALUE_LEN, value: 32 },
        { type: p.CKA_TOKEN, value: true },
        { type: p.CKA_PRIVATE, value: true },
        { type: p.CKA_SENSITIVE, value: true },
        { type: p.CKA_EXTRACTABLE, value: false },
        { type: p.CKA_ENCRYPT, value: true },
        { type: p.CKA_DECRYPT, value: true },
        { type: p.CKA_WRAP, value: false },
        { type: p.CKA_UNWRAP, value: false },
        { type: p.CKA_SIGN, value: false },
        { type: p.CKA_VERIFY, value: false },
        { type: p.CKA_DERIVE, value: false },
        { type: p.CKA_LABEL, value: label },
        { type: p.CKA_ID, value: randomBytes(ID_BYTES) },
      ]);
    } catch (e) {
      throw failed('C_GenerateKey', e);
    }
    return { keyId: checkKey(attributes(lib, session, key), label) };
  });
}

/**
 * Reads back the token's attributes of the master key (to check it is non-extractable).
 * @throws WardError ERR_PKCS11_*
 */
export function pkcs11KeyAttributes(options: Pkcs11Options): Pkcs11KeyAttributes {
  const label = options.label ?? DEFAULT_PKCS11_KEY_LABEL;
  return withSession(options, false, (lib, session) => attributes(lib, session, oneKey(lib, session, label)));
}

function oneKey(lib: Lib, session: Buffer, label: string): Buffer {
  const keys = findKeys(lib, session, label);
  if (keys.length !== 1) {
    throw new WardError('ERR_PKCS11_KEY_NOT_FOUND', keys.length === 0 ? `the token holds no key labelled ${JSON.stringify(label)}` : `the token holds several keys labelled ${JSON.stringify(label)}`, {
      hint: 'create it with generatePkcs11Key, or check [keys] label in ward.toml',
    });
  }
  return keys[0]!;
}

/**
 * Opens the `pkcs11` provider: logs in, finds the key and checks it is a sensitive,
 * non-extractable AES-256 key. It starts unsealed.
 * @throws WardError ERR_PKCS11_MODULE, ERR_PKCS11_TOKEN_NOT_FOUND, ERR_PKCS11_LOGIN,
 *   ERR_PKCS11_KEY_NOT_FOUND, ERR_KEY_INVALID
 */
export function openPkcs11KeyProvider(options: Pkcs11Options): KeyProvider {
  const p = binding();
  const label = options.label ?? DEFAULT_PKCS11_KEY_LABEL;
  let state: { lib: Lib; session: Buffer; key: Buffer } | null = null;
  let closed = false;

  const login = (pin: Buffer): string => {
    const lib = acquire(options.module);
    try {
      const session = openSession(lib, findSlot(lib, options.token), pin, false);
      try {
        const key = oneKey(lib, session, label);
        const id = checkKey(attributes(lib, session, key), label);
        state = { lib, session, key };
        return id;
      } catch (e) {
        lib.C_CloseSession(session);
        throw e;
      }
    } catch (e) {
      release(options.module);
      throw e;
    }
  };
  const logout = () => {
    if (!state) return;
    const { lib, session } = state;
    state = null;
    try {
      lib.C_Logout(session);
    } catch {
      // other sessions of this process may still be logged in; closing ours is what matters
    }
    try {
      lib.C_CloseSession(session);
    } catch {
      // already closed by the token or another C_CloseAllSessions
    } finally {
      release(options.module);
    }
  };
  const live = () => {
    if (!state) throw new WardError('ERR_KEY_SEALED', 'the master key is sealed', { hint: 'unseal it: ward operator unseal' });
    return state;
  };
  const gcm = (iv: Buffer, aad: Buffer) => ({
    mechanism: p.CKM_AES_GCM,
    parameter: { type: p.CK_PARAMS_AES_GCM, iv, ivBits: IV_BYTES * 8, aad, tagBits: TAG_BYTES * 8 },
  });
  const progress = (): UnsealProgress => ({ sealed: !state, have: state ? 1 : 0, need: 1 });
  // The token restarted, was unplugged, or our session was closed: the provider is sealed now,
  // and unseal() logs in again once the token is back.
  const lost = new Set([
    p.CKR_SESSION_HANDLE_INVALID, p.CKR_SESSION_CLOSED, p.CKR_DEVICE_REMOVED, p.CKR_TOKEN_NOT_PRESENT, p.CKR_TOKEN_NOT_RECOGNIZED,
    p.CKR_USER_NOT_LOGGED_IN, p.CKR_KEY_HANDLE_INVALID, p.CKR_OBJECT_HANDLE_INVALID,
  ]);
  const failure = (fn: string, e: unknown): WardError => {
    if (!lost.has(ckr(e))) return failed(fn, e);
    logout();
    return new WardError('ERR_KEY_SEALED', `lost the session with the token (${fn}: ${(e as Error).message})`, { hint: 'unseal to log in again: ward operator unseal' });
  };

  const keyId = login(options.pin());
  return {
    kind: 'pkcs11',
    keyId,
    get sealed() {
      return !state;
    },
    async wrap(dataKey, aad) {
      const { lib, session, key } = live();
      const iv = randomBytes(IV_BYTES);
      try {
        lib.C_EncryptInit(session, gcm(iv, wrapAad(keyId, aad)), key);
        const out = lib.C_Encrypt(session, dataKey, Buffer.alloc(dataKey.length + TAG_BYTES));
        return Buffer.concat([Buffer.of(WRAP_VERSION), iv, out]);
      } catch (e) {
        throw failure('C_Encrypt', e);
      }
    },
    async unwrap(wrapped, aad, id) {
      if (id !== keyId) throw new WardError('ERR_KEY_NOT_FOUND', `data key was wrapped by master key ${id}, this server holds ${keyId}`);
      const { lib, session, key } = live();
      if (wrapped[0] !== WRAP_VERSION) throw new WardError('ERR_CRYPTO_FORMAT', 'unknown wrapped key version');
      if (wrapped.length !== 1 + IV_BYTES + DATA_KEY_BYTES + TAG_BYTES) throw new WardError('ERR_CRYPTO_FORMAT', 'wrapped key has the wrong length');
      const body = wrapped.subarray(1 + IV_BYTES);
      try {
        lib.C_DecryptInit(session, gcm(Buffer.from(wrapped.subarray(1, 1 + IV_BYTES)), wrapAad(keyId, aad)), key);
      } catch (e) {
        throw failure('C_DecryptInit', e);
      }
      try {
        return Buffer.from(lib.C_Decrypt(session, Buffer.from(body), Buffer.alloc(body.length)));
      } catch (e) {
        const code = ckr(e);
        // A failed tag is CKR_ENCRYPTED_DATA_INVALID in the standard; SoftHSM 2.6 says CKR_GENERAL_ERROR.
        if (code === p.CKR_ENCRYPTED_DATA_INVALID || code === p.CKR_ENCRYPTED_DATA_LEN_RANGE || code === p.CKR_GENERAL_ERROR || code === p.CKR_FUNCTION_FAILED) {
          throw new WardError('ERR_CRYPTO_AUTH', 'decryption failed: wrong key or tampered data');
        }
        throw failure('C_Decrypt', e);
      }
    },
    seal: logout,
    async unseal(pin) {
      if (closed) throw new WardError('ERR_KEY_SEALED', 'the key provider is closed');
      if (state) return progress();
      const id = login(pin ? Buffer.from(pin) : options.pin());
      if (id !== keyId) {
        logout();
        throw new WardError('ERR_KEY_INVALID', `the token now holds another key than ${keyId} under ${JSON.stringify(label)}`);
      }
      return progress();
    },
    close() {
      closed = true;
      logout();
    },
  };
}
