/** Encrypted container images: the entry point the CLI uses. */
import { parseImageReference } from './reference.ts';
import type { ImageReference } from './reference.ts';
import { OciLayoutDestination, OciLayoutSource } from './oci-layout.ts';
import { DockerArchiveDestination, DockerArchiveSource } from './docker-archive.ts';
import { RegistryDestination, RegistrySource } from './registry-transport.ts';
import type { RegistryOptions } from './registry-client.ts';
import type { ImageDestination, ImageSource } from './transport.ts';

export { copyImage } from './copy.ts';
export type { CopyOptions, CopyResult, ProgressEvent } from './copy.ts';
export { encryptionWrappers, decryptionWrappers, passphraseWrapper } from './keys.ts';
export { parsePlatform } from './manifest.ts';
export { formatImageReference, parseImageReference } from './reference.ts';
export type { ImageReference } from './reference.ts';
export type { RegistryOptions } from './registry-client.ts';

export function openSource(ref: ImageReference | string, registry: RegistryOptions = {}): ImageSource {
  const r = typeof ref === 'string' ? parseImageReference(ref) : ref;
  switch (r.transport) {
    case 'oci':
      return new OciLayoutSource(r.path, r.tag);
    case 'docker-archive':
      return new DockerArchiveSource(r.path, r.ref);
    case 'docker':
      return new RegistrySource(r, registry);
  }
}

export function openDestination(ref: ImageReference | string, registry: RegistryOptions = {}): ImageDestination {
  const r = typeof ref === 'string' ? parseImageReference(ref) : ref;
  switch (r.transport) {
    case 'oci':
      return new OciLayoutDestination(r.path, r.tag);
    case 'docker-archive':
      return new DockerArchiveDestination(r.path, r.ref);
    case 'docker':
      return new RegistryDestination(r, registry);
  }
}
