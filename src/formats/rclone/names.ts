/**
 * rclone crypt names (backend/crypt/cipher.go, rclone 64ab1ac), modes `standard` and `off`.
 *
 * standard: each path segment → PKCS#7 pad to 16 → EME(AES-256, name key, name tweak) →
 *           base32hex, lowercase, unpadded. Directory segments too unless directory name
 *           encryption is off. A version suffix (see version.ts) stays in clear.
 * off:      file names get the suffix `.bin`; directory names are left as they are.
 *
 * Limits: an encrypted segment decodes to at most 2048 bytes (128 EME blocks), as in rclone.
 * WARD: a decrypted segment that is empty, `.`, `..`, or holds `/` or NUL is refused, so a crafted
 * tree cannot write outside the destination. Names bind to nothing else in the format: a file
 * moved to another directory, or two files whose names are swapped, still decrypt.
 */
import { WardError } from '../../errors.ts';
import { decodeBase32Hex, encodeBase32Hex } from './base32.ts';
import { Eme, EME_MAX_BLOCKS } from './eme.ts';
import type { RcloneKeys } from './keys.ts';
import { addVersion, removeVersion } from './version.ts';

const BLOCK = 16;
/** The suffix of `filename_encryption = off` (rclone's default `suffix`). */
export const OFF_SUFFIX = '.bin';

export type FilenameEncryption = 'standard' | 'off';

export interface NameOptions {
  /** rclone's `filename_encryption`; default `standard`. */
  filenameEncryption?: FilenameEncryption;
  /** rclone's `directory_name_encryption`; default true. */
  directoryNameEncryption?: boolean;
}

function nameError(name: string, why: string): WardError {
  return new WardError('ERR_RCLONE_NAME', `name ${JSON.stringify(name)} does not decrypt: ${why}`, {
    hint: 'the file was renamed, was not written by this crypt remote, or the password, salt or --filename-encryption differ',
  });
}

function pad(data: Buffer): Buffer {
  const n = BLOCK - (data.length % BLOCK);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

function unpad(data: Buffer): Buffer | undefined {
  const n = data[data.length - 1]!;
  if (n === 0 || n > BLOCK) return undefined;
  for (let i = data.length - n; i < data.length; i++) if (data[i] !== n) return undefined;
  return data.subarray(0, data.length - n);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function safeSegment(segment: string): boolean {
  return segment !== '' && segment !== '.' && segment !== '..' && !segment.includes('/') && !segment.includes('\0');
}

export class NameCipher {
  readonly mode: FilenameEncryption;
  readonly encryptDirectories: boolean;
  readonly #eme: Eme;

  constructor(keys: RcloneKeys, options: NameOptions = {}) {
    this.mode = options.filenameEncryption ?? 'standard';
    if (this.mode !== 'standard' && this.mode !== 'off') throw new TypeError(`unsupported filename encryption ${String(this.mode)}`);
    this.encryptDirectories = options.directoryNameEncryption ?? true;
    this.#eme = new Eme(keys.nameKey, keys.nameTweak);
  }

  /** Encrypts one segment in standard mode (rclone's encryptSegment). */
  encryptSegment(plain: string): string {
    if (plain === '') return '';
    return encodeBase32Hex(this.#eme.encrypt(pad(Buffer.from(plain, 'utf8'))));
  }

  /**
   * Decrypts one standard-mode segment (rclone's decryptSegment).
   * @throws WardError ERR_RCLONE_NAME
   */
  decryptSegment(encrypted: string): string {
    if (encrypted === '') return '';
    const raw = decodeBase32Hex(encrypted);
    if (raw === undefined) throw nameError(encrypted, 'not base32hex');
    if (raw.length === 0 || raw.length % BLOCK !== 0) throw nameError(encrypted, 'not a whole number of blocks');
    if (raw.length > EME_MAX_BLOCKS * BLOCK) throw nameError(encrypted, 'too long');
    const plain = unpad(this.#eme.decrypt(raw));
    if (plain === undefined) throw nameError(encrypted, 'bad padding');
    // rclone takes the bytes as they are; Ward needs a string it can create on disk.
    let text: string;
    try {
      text = UTF8.decode(plain);
    } catch {
      throw nameError(encrypted, 'not UTF-8');
    }
    return text;
  }

  // rclone keeps a version suffix of a path's last segment in clear (version.ts).
  #encryptLast(segment: string): string {
    const v = removeVersion(segment);
    if (v === undefined) return this.encryptSegment(segment);
    return addVersion(this.encryptSegment(v.name), v.version);
  }

  #decryptLast(segment: string): string {
    const v = removeVersion(segment);
    const plain = v === undefined ? this.decryptSegment(segment) : addVersion(this.decryptSegment(v.name), v.version);
    if (!safeSegment(plain)) throw nameError(segment, 'decrypts to an unsafe name');
    return plain;
  }

  /** Maps the segments rclone transforms: the last always, the others unless directory names stay clear. */
  #mapPath(path: string, inner: (segment: string) => string, last: (segment: string) => string): string {
    const s = path.split('/');
    return s.map((seg, i) => (i === s.length - 1 ? last(seg) : this.encryptDirectories ? inner(seg) : seg)).join('/');
  }

  #decryptInner = (segment: string): string => {
    const plain = this.decryptSegment(segment);
    if (!safeSegment(plain)) throw nameError(segment, 'decrypts to an unsafe name');
    return plain;
  };

  /** Encrypts a file path of `/`-separated segments (rclone's EncryptFileName). */
  encryptFileName(path: string): string {
    if (this.mode === 'off') return path + OFF_SUFFIX;
    return this.#mapPath(path, (seg) => this.encryptSegment(seg), (seg) => this.#encryptLast(seg));
  }

  /** Encrypts a directory path (rclone's EncryptDirName). */
  encryptDirName(path: string): string {
    if (this.mode === 'off' || !this.encryptDirectories) return path;
    return this.#mapPath(path, (seg) => this.encryptSegment(seg), (seg) => this.#encryptLast(seg));
  }

  /**
   * Decrypts a file path (rclone's DecryptFileName).
   * @throws WardError ERR_RCLONE_NAME
   */
  decryptFileName(path: string): string {
    if (this.mode === 'off') {
      const plain = path.slice(0, -OFF_SUFFIX.length);
      if (!path.endsWith(OFF_SUFFIX) || plain === '') throw nameError(path, `no ${OFF_SUFFIX} suffix`);
      const v = removeVersion(plain);
      if (v !== undefined && v.name === '') throw nameError(path, 'only a version suffix');
      if (!plain.split('/').every(safeSegment)) throw nameError(path, 'decrypts to an unsafe name');
      return plain;
    }
    return this.#mapPath(path, this.#decryptInner, (seg) => this.#decryptLast(seg));
  }

  /**
   * Decrypts a directory path (rclone's DecryptDirName).
   * @throws WardError ERR_RCLONE_NAME
   */
  decryptDirName(path: string): string {
    if (this.mode === 'off' || !this.encryptDirectories) return path;
    return this.#mapPath(path, this.#decryptInner, (seg) => this.#decryptLast(seg));
  }

  /**
   * One directory segment as `rclone copy` writes it: the parent segments of an encrypted file
   * path (no version handling), or the segment itself when directory names stay clear.
   */
  encryptDirSegment(segment: string): string {
    return this.mode === 'off' || !this.encryptDirectories ? segment : this.encryptSegment(segment);
  }

  /**
   * Decrypts one directory segment of a listing, as rclone's DecryptDirName does.
   * @throws WardError ERR_RCLONE_NAME
   */
  decryptDirSegment(segment: string): string {
    return this.mode === 'off' || !this.encryptDirectories ? segment : this.#decryptLast(segment);
  }
}
