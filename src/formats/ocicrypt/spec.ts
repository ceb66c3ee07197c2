/**
 * ocicrypt names: media types and annotations, as github.com/containers/ocicrypt writes them
 * (spec/spec.go, encryption.go at c3436fd).
 *
 *   encrypted layer  = the plain layer's media type + "+encrypted"
 *   annotations      = org.opencontainers.image.enc.keys.<scheme>: base64(wrapped) ("," base64(wrapped))*
 *                      org.opencontainers.image.enc.pubopts:      base64(JSON public options)
 *
 * A descriptor's `digest` and `size` describe the ciphertext; the plaintext digest travels inside
 * the wrapped private options.
 */

/** The OCI content descriptor, as far as Ward reads and writes it. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: { os: string; architecture: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
  artifactType?: string;
}

export const ENCRYPTED_SUFFIX = '+encrypted';
export const ANNOTATION_PREFIX = 'org.opencontainers.image.enc.';
export const ANNOTATION_KEYS_PREFIX = 'org.opencontainers.image.enc.keys.';
export const ANNOTATION_JWE = 'org.opencontainers.image.enc.keys.jwe';
export const ANNOTATION_PUBOPTS = 'org.opencontainers.image.enc.pubopts';

export const MEDIA_TYPE_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_TYPE_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_TYPE_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const MEDIA_TYPE_LAYER_ENC = 'application/vnd.oci.image.layer.v1.tar+encrypted';
export const MEDIA_TYPE_LAYER_GZIP_ENC = 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted';
export const MEDIA_TYPE_LAYER_ZSTD_ENC = 'application/vnd.oci.image.layer.v1.tar+zstd+encrypted';

/** Docker schema 2 layer types map onto their OCI twins before encryption (as containers/image does). */
const DOCKER_TO_OCI: Record<string, string> = {
  'application/vnd.docker.image.rootfs.diff.tar': MEDIA_TYPE_LAYER,
  'application/vnd.docker.image.rootfs.diff.tar.gzip': MEDIA_TYPE_LAYER_GZIP,
  'application/vnd.docker.image.rootfs.diff.tar.zstd': MEDIA_TYPE_LAYER_ZSTD,
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

/** The OCI media type of a layer, converting Docker schema 2 names; other types pass unchanged. */
export function ociLayerMediaType(mediaType: string): string {
  return DOCKER_TO_OCI[mediaType] ?? mediaType;
}

export function isEncryptedMediaType(mediaType: string): boolean {
  return mediaType.endsWith(ENCRYPTED_SUFFIX);
}

/** `…tar+gzip` → `…tar+gzip+encrypted`; an encrypted type is returned unchanged. */
export function encryptedMediaType(mediaType: string): string {
  const oci = ociLayerMediaType(mediaType);
  return isEncryptedMediaType(oci) ? oci : oci + ENCRYPTED_SUFFIX;
}

/** `…tar+gzip+encrypted` → `…tar+gzip`. */
export function decryptedMediaType(mediaType: string): string {
  return isEncryptedMediaType(mediaType) ? mediaType.slice(0, -ENCRYPTED_SUFFIX.length) : mediaType;
}

/** The annotations of a descriptor without the ocicrypt ones (what a decrypted layer keeps). */
export function withoutEncryptionAnnotations(annotations: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!annotations) return undefined;
  const kept = Object.entries(annotations).filter(([k]) => !k.startsWith(ANNOTATION_PREFIX));
  return kept.length ? Object.fromEntries(kept) : undefined;
}

/** Whether a descriptor is an ocicrypt-encrypted layer (by media type or by its key annotations). */
export function isEncryptedLayer(desc: Descriptor): boolean {
  if (isEncryptedMediaType(desc.mediaType)) return true;
  return Object.keys(desc.annotations ?? {}).some((k) => k.startsWith(ANNOTATION_KEYS_PREFIX));
}
