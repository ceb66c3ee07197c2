/** ocicrypt: the encrypted-layer format of containerd, skopeo and podman. The folder's public surface. */
export * from './spec.ts';
export { AES_256_CTR_HMAC_SHA256, LayerDecryptor, LayerEncryptor, stageTransform, parsePrivateOptions, parsePublicOptions, serializePrivateOptions, serializePublicOptions } from './blockcipher.ts';
export type { PrivateOptions, PublicOptions, Stage } from './blockcipher.ts';
export { decryptJwe, encryptJwe, PBES2_ITERATIONS, PBES2_MAX_ITERATIONS } from './jwe.ts';
export type { JweKey, JweRecipient } from './jwe.ts';
export { parsePrivateKey, parsePublicKey } from './keys.ts';
export type { KeyWrapAlg, PublicJweKey } from './keys.ts';
export { JweKeyWrapper, splitWrappedKeys, unwrapLayerOptions, wrapLayerKeys } from './keywrap.ts';
export type { KeyWrapper } from './keywrap.ts';
export {
  KEY_PROVIDER_ANNOTATION_PREFIX, MAX_KEY_PROVIDER_MESSAGE, parseKeyProviderRequest, parseKeyProviderResponse,
  serializeKeyProviderRequest, serializeKeyUnwrapResponse, serializeKeyWrapResponse,
} from './keyprovider.ts';
export type { KeyProviderRequest } from './keyprovider.ts';
