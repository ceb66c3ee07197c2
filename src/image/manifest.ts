/**
 * Image manifests, indexes and configs (OCI image-spec v1.1, Docker image manifest v2 schema 2),
 * parsed strictly enough to copy them safely. Ward always writes OCI manifests.
 */
import { createHash } from 'node:crypto';
import { WardError } from '../errors.ts';
import { ociLayerMediaType } from '../formats/ocicrypt/index.ts';
import type { Descriptor } from '../formats/ocicrypt/index.ts';

export const MT_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MT_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MT_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MT_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MT_DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const MT_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const MANIFEST_ACCEPT = [MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST, MT_DOCKER_LIST];

/** Manifests and configs above this are refused (registries cap manifests at 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 << 20;
export const MAX_CONFIG_BYTES = 16 << 20;

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  [k: string]: unknown;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface HistoryEntry {
  created_by?: string;
  empty_layer?: boolean;
  comment?: string;
}

export function sha256Digest(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

const formatError = (what: string) => new WardError('ERR_IMAGE_FORMAT', `malformed ${what}`);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function checkDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v) || typeof v.mediaType !== 'string' || typeof v.digest !== 'string' || !DIGEST_RE.test(v.digest)
    || typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw formatError(what);
  if (v.annotations !== undefined && (!isObject(v.annotations) || Object.values(v.annotations).some((a) => typeof a !== 'string'))) throw formatError(what);
  return v as unknown as Descriptor;
}

export function parseJson(raw: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    throw formatError(what);
  }
  if (!isObject(v)) throw formatError(what);
  return v;
}

/** The media type a manifest declares, or infers from its shape. */
export function manifestMediaType(raw: Buffer, declared?: string): string {
  const m = parseJson(raw, 'manifest');
  if (typeof m.mediaType === 'string') return m.mediaType;
  if (declared && MANIFEST_ACCEPT.includes(declared)) return declared;
  return Array.isArray(m.manifests) ? MT_OCI_INDEX : MT_OCI_MANIFEST;
}

export function isIndexMediaType(mt: string): boolean {
  return mt === MT_OCI_INDEX || mt === MT_DOCKER_LIST;
}

export function parseIndex(raw: Buffer): ImageIndex {
  const m = parseJson(raw, 'image index');
  if (m.schemaVersion !== 2 || !Array.isArray(m.manifests)) throw formatError('image index');
  m.manifests.forEach((d) => checkDescriptor(d, 'image index entry'));
  return m as unknown as ImageIndex;
}

export function parseManifest(raw: Buffer): ImageManifest {
  const m = parseJson(raw, 'image manifest');
  if (m.schemaVersion !== 2 || !Array.isArray(m.layers)) {
    throw new WardError('ERR_IMAGE_FORMAT', 'unsupported or malformed image manifest', { hint: 'Ward reads OCI and Docker schema 2 manifests' });
  }
  checkDescriptor(m.config, 'manifest config descriptor');
  m.layers.forEach((d) => checkDescriptor(d, 'manifest layer descriptor'));
  return m as unknown as ImageManifest;
}

/** The platform Ward picks by default: this machine's, as Go names it. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: arch[process.arch] ?? process.arch };
}

export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, extra] = text.split('/');
  if (!os || !architecture || extra !== undefined) {
    throw new WardError('ERR_USAGE', `invalid platform ${JSON.stringify(text)}`, { hint: 'use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8' });
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** Picks the manifest for `platform` from an index. */
export function selectPlatform(index: ImageIndex, platform: Platform): Descriptor {
  const found = index.manifests.find((d) => d.platform?.os === platform.os && d.platform.architecture === platform.architecture
    && (!platform.variant || d.platform.variant === platform.variant));
  if (!found) {
    const have = index.manifests.map((d) => d.platform ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''}` : '?').join(', ');
    throw new WardError('ERR_IMAGE_PLATFORM', `no image for ${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''} in the index (has: ${have || 'none'})`, {
      hint: 'choose one with --platform OS/ARCH',
    });
  }
  return found;
}

/** The config's media type in an OCI manifest. */
export function ociConfigMediaType(mt: string): string {
  return mt === MT_DOCKER_CONFIG ? MT_OCI_CONFIG : mt;
}

/** Serializes an OCI manifest for `config` and `layers`, keeping the source's annotations. */
export function buildOciManifest(config: Descriptor, layers: Descriptor[], annotations?: Record<string, string>): Buffer {
  const clean = (d: Descriptor): Descriptor => {
    const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    if (d.annotations && Object.keys(d.annotations).length) out.annotations = d.annotations;
    if (d.urls) out.urls = d.urls;
    return out;
  };
  const m: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MT_OCI_MANIFEST,
    config: clean({ ...config, mediaType: ociConfigMediaType(config.mediaType) }),
    layers: layers.map((l) => clean({ ...l, mediaType: ociLayerMediaType(l.mediaType) })),
  };
  if (annotations && Object.keys(annotations).length) m.annotations = annotations;
  return Buffer.from(JSON.stringify(m));
}

/** The history entries of an image config (for label-driven layer selection). */
export function configHistory(config: Record<string, unknown>): HistoryEntry[] {
  const h = config.history;
  if (h === undefined) return [];
  if (!Array.isArray(h) || !h.every(isObject)) throw formatError('image config history');
  return h as HistoryEntry[];
}

/** The uncompressed layer digests of an image config. */
export function configDiffIds(config: Record<string, unknown>): string[] {
  const rootfs = config.rootfs;
  if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids) || !rootfs.diff_ids.every((d) => typeof d === 'string' && DIGEST_RE.test(d))) {
    throw formatError('image config rootfs');
  }
  return rootfs.diff_ids as string[];
}
