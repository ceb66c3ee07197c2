/**
 * rclone crypt (https://rclone.org/crypt/, backend/crypt/cipher.go at rclone 64ab1ac): encrypted
 * file contents and names that `rclone` reads through a crypt remote, and the reverse. Pure:
 * no I/O beyond the buffers and streams given; src/fs/crypt-tree.ts walks directories.
 */
export { deriveKeys, zeroKeys, DEFAULT_SALT, type RcloneKeys } from './keys.ts';
export { obscure, reveal } from './obscure.ts';
export { NameCipher, OFF_SUFFIX, type FilenameEncryption, type NameOptions } from './names.ts';
export {
  BlockOpener,
  BlockSealer,
  BLOCK_BYTES,
  BLOCK_DATA,
  BLOCK_OVERHEAD,
  HEADER_BYTES,
  decryptStream,
  decryptedSize,
  encryptStream,
  encryptedSize,
  fileHeader,
  incrementNonce,
  newNonce,
  openBlocks,
  parseHeader,
  sealChunks,
} from './data.ts';
