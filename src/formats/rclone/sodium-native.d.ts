// The two sodium-native functions Ward uses (the package ships no types). Both write into the
// caller's buffers: `c` is MAC (16 bytes) ‖ ciphertext, exactly NaCl secretbox's layout.
declare module 'sodium-native' {
  const sodium: {
    crypto_secretbox_easy(c: Uint8Array, m: Uint8Array, n: Uint8Array, k: Uint8Array): void;
    crypto_secretbox_open_easy(m: Uint8Array, c: Uint8Array, n: Uint8Array, k: Uint8Array): boolean;
  };
  export default sodium;
}
