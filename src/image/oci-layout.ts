/**
 * OCI image layout directories (image-spec v1.1 image-layout.md):
 *
 *   PATH/oci-layout            {"imageLayoutVersion":"1.0.0"}
 *   PATH/index.json            an image index; a tag is the annotation org.opencontainers.image.ref.name
 *   PATH/blobs/sha256/<hex>    content-addressed blobs
 *
 * The destination stages blobs next to PATH and on commit moves them into place, then writes the
 * manifest blob, then replaces index.json atomically: index.json is the commit point.
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { WardError } from '../errors.ts';
import type { Descriptor } from '../formats/ocicrypt/index.ts';
import {
  isIndexMediaType, manifestMediaType, MAX_MANIFEST_BYTES, MT_OCI_INDEX, parseIndex, selectPlatform, sha256Digest,
} from './manifest.ts';
import type { Platform } from './manifest.ts';
import { Staging } from './staging.ts';
import { Digester, hexOf, readAll, readFileChunks, through } from './transport.ts';
import type { BlobWritten, Chunks, ImageDestination, ImageSource, ResolvedManifest } from './transport.ts';

export const REF_NAME = 'org.opencontainers.image.ref.name';
const LAYOUT = '{"imageLayoutVersion":"1.0.0"}';

const blobPath = (root: string, digest: string) => join(root, 'blobs', 'sha256', hexOf(digest));

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

export class OciLayoutSource implements ImageSource {
  readonly #root: string;
  readonly #tag: string | undefined;

  constructor(path: string, tag: string | undefined) {
    this.#root = resolve(path);
    this.#tag = tag;
  }

  async #readSmall(desc: Descriptor, what: string): Promise<Buffer> {
    if (desc.size > MAX_MANIFEST_BYTES) throw new WardError('ERR_IMAGE_FORMAT', `${what} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    return readAll(through(await this.blob(desc), new Digester(desc, what)), MAX_MANIFEST_BYTES, what);
  }

  async manifest(platform: Platform): Promise<ResolvedManifest> {
    let indexRaw: Buffer;
    try {
      indexRaw = await readFile(join(this.#root, 'index.json'));
    } catch {
      throw new WardError('ERR_IMAGE_NOT_FOUND', `no OCI image layout at ${this.#root} (index.json missing)`);
    }
    const index = parseIndex(indexRaw);
    const named = this.#tag === undefined ? index.manifests : index.manifests.filter((d) => d.annotations?.[REF_NAME] === this.#tag);
    if (named.length !== 1) {
      throw named.length === 0
        ? new WardError('ERR_IMAGE_NOT_FOUND', `no image tagged ${JSON.stringify(this.#tag)} in ${this.#root}`)
        : new WardError('ERR_IMAGE_REFERENCE', `the layout ${this.#root} holds ${named.length} images`, { hint: 'name one: oci:PATH:TAG' });
    }
    let desc = named[0]!;
    for (let depth = 0; depth < 4; depth++) {
      const raw = await this.#readSmall(desc, 'manifest');
      const mediaType = manifestMediaType(raw, desc.mediaType);
      if (!isIndexMediaType(mediaType)) return { raw, mediaType, digest: desc.digest };
      desc = selectPlatform(parseIndex(raw), platform);
    }
    throw new WardError('ERR_IMAGE_FORMAT', 'image indexes nested too deeply');
  }

  async blob(desc: Descriptor): Promise<Chunks> {
    return readFileChunks(blobPath(this.#root, desc.digest), `blob ${desc.digest}`);
  }

  async close(): Promise<void> {}
}

export class OciLayoutDestination implements ImageDestination {
  readonly wantsPlainUncompressed = false;
  readonly #root: string;
  readonly #tag: string | undefined;
  #staging: Staging | undefined;
  #manifest: { raw: Buffer; mediaType: string } | undefined;

  constructor(path: string, tag: string | undefined) {
    this.#root = resolve(path);
    this.#tag = tag;
  }

  async #stage(): Promise<Staging> {
    if (!this.#staging) {
      await mkdir(dirname(this.#root), { recursive: true });
      this.#staging = await Staging.create(dirname(this.#root));
    }
    return this.#staging;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const s = await stat(blobPath(this.#root, desc.digest)).catch(() => undefined);
    return s?.size === desc.size;
  }

  async putBlob(data: Chunks, known?: BlobWritten): Promise<BlobWritten> {
    return (await this.#stage()).put(data, known);
  }

  async putManifest(raw: Buffer, mediaType: string): Promise<void> {
    this.#manifest = { raw, mediaType };
  }

  async commit(): Promise<void> {
    if (!this.#manifest) throw new TypeError('commit before putManifest');
    const staging = await this.#stage();
    const blobs = join(this.#root, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    if (!(await exists(join(this.#root, 'oci-layout')))) await writeFile(join(this.#root, 'oci-layout'), LAYOUT);
    for (const [digest, { path }] of staging.blobs) await rename(path, blobPath(this.#root, digest));
    const { raw, mediaType } = this.#manifest;
    const digest = sha256Digest(raw);
    await writeFile(blobPath(this.#root, digest), raw);
    const indexPath = join(this.#root, 'index.json');
    const index = (await exists(indexPath)) ? parseIndex(await readFile(indexPath)) : { schemaVersion: 2 as const, mediaType: MT_OCI_INDEX, manifests: [] };
    const desc: Descriptor = { mediaType, digest, size: raw.length };
    if (this.#tag !== undefined) desc.annotations = { [REF_NAME]: this.#tag };
    index.manifests = [...index.manifests.filter((d) => d.annotations?.[REF_NAME] !== this.#tag), desc];
    const tmp = join(staging.dir, 'index.json');
    await writeFile(tmp, JSON.stringify(index));
    await rename(tmp, indexPath);
    await staging.remove();
  }

  async abort(): Promise<void> {
    await this.#staging?.remove();
  }
}
