/**
 * docker-archive: what `docker save` writes and `docker load` reads.
 *
 *   manifest.json    [{"Config":"<file>","RepoTags":["repo:tag"],"Layers":["<file>",…]}]
 *   <config file>    the image config JSON
 *   <layer files>    layer tars, uncompressed (older Docker: <id>/layer.tar; newer: blobs/sha256/<hex>)
 *
 * As a source, layer digests come from the config's diff_ids (verified while streaming) unless a
 * layer is gzip-compressed, in which case it is hashed first. As a destination, layers must be
 * plain and uncompressed (the copier decrypts and gunzips); the tarball is assembled in a staging
 * directory and renamed into place at commit.
 */
import { open, rename } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { WardError } from '../errors.ts';
import type { Descriptor } from '../formats/ocicrypt/index.ts';
import {
  buildOciManifest, configDiffIds, MT_DOCKER_CONFIG, MT_OCI_MANIFEST, parseJson, parseManifest, sha256Digest,
} from './manifest.ts';
import { Staging } from './staging.ts';
import { indexTar, resolveEntry, TarWriter } from './tar.ts';
import type { TarEntry } from './tar.ts';
import { hexOf, readAll, readFileChunks } from './transport.ts';
import type { BlobWritten, Chunks, ImageDestination, ImageSource, ResolvedManifest } from './transport.ts';

const MAX_JSON = 16 << 20;
const formatError = (why: string) => new WardError('ERR_IMAGE_FORMAT', `malformed docker-archive: ${why}`);

interface ArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** `name:tag` for RepoTags: adds `:latest`, drops docker.io/library/. */
function normalizeRepoTag(ref: string): string {
  const withTag = /:[\w][\w.-]*$/.test(ref.slice(ref.lastIndexOf('/') + 1)) ? ref : `${ref}:latest`;
  return withTag.replace(/^docker\.io\/(library\/)?/, '');
}

export class DockerArchiveSource implements ImageSource {
  readonly #path: string;
  readonly #ref: string | undefined;
  readonly #blobs = new Map<string, TarEntry>();

  constructor(path: string, ref: string | undefined) {
    this.#path = resolve(path);
    this.#ref = ref;
  }

  #chunks(e: TarEntry): Promise<Chunks> {
    return readFileChunks(this.#path, this.#path, e.offset, e.size);
  }

  async #readEntry(e: TarEntry, what: string): Promise<Buffer> {
    if (e.size > MAX_JSON) throw formatError(`${what} too large`);
    return readAll(await this.#chunks(e), MAX_JSON, what);
  }

  async #isGzip(e: TarEntry): Promise<boolean> {
    if (e.size < 2) return false;
    const fh = await open(this.#path, 'r');
    try {
      const b = Buffer.alloc(2);
      await fh.read(b, 0, 2, e.offset);
      return b[0] === 0x1f && b[1] === 0x8b;
    } finally {
      await fh.close();
    }
  }

  async manifest(): Promise<ResolvedManifest> {
    const entries = await indexTar(this.#path);
    const find = (name: string) => {
      const e = resolveEntry(entries, name);
      if (!e) throw formatError(`missing ${name}`);
      return e;
    };
    const list: unknown = JSON.parse((await this.#readEntry(find('manifest.json'), 'manifest.json')).toString('utf8'));
    if (!Array.isArray(list) || !list.length) throw formatError('manifest.json is not a non-empty list');
    const images = list as ArchiveEntry[];
    let image: ArchiveEntry | undefined;
    if (this.#ref === undefined) {
      if (images.length > 1) throw new WardError('ERR_IMAGE_REFERENCE', `${this.#path} holds ${images.length} images`, { hint: 'name one: docker-archive:PATH:REPO:TAG or docker-archive:PATH:@N' });
      image = images[0];
    } else if (this.#ref.startsWith('@')) {
      image = images[Number(this.#ref.slice(1))];
    } else {
      const want = normalizeRepoTag(this.#ref);
      image = images.find((i) => i.RepoTags?.some((t) => normalizeRepoTag(t) === want));
    }
    if (!image) throw new WardError('ERR_IMAGE_NOT_FOUND', `no image ${JSON.stringify(this.#ref)} in ${this.#path}`);
    if (typeof image.Config !== 'string' || !Array.isArray(image.Layers)) throw formatError('bad manifest.json entry');

    const configEntry = find(image.Config);
    const configRaw = await this.#readEntry(configEntry, 'image config');
    const config: Descriptor = { mediaType: MT_DOCKER_CONFIG, digest: sha256Digest(configRaw), size: configRaw.length };
    this.#blobs.set(config.digest, configEntry);
    const diffIds = configDiffIds(parseJson(configRaw, 'image config'));
    if (diffIds.length !== image.Layers.length) throw formatError('config diff_ids and Layers disagree');
    const layers: Descriptor[] = [];
    for (const [i, name] of image.Layers.entries()) {
      const e = find(name);
      let digest = diffIds[i]!;
      let mediaType = 'application/vnd.oci.image.layer.v1.tar';
      if (await this.#isGzip(e)) {
        const h = createHash('sha256');
        for await (const c of await this.#chunks(e)) h.update(c);
        digest = `sha256:${h.digest('hex')}`;
        mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip';
      }
      this.#blobs.set(digest, e);
      layers.push({ mediaType, digest, size: e.size });
    }
    const raw = buildOciManifest(config, layers);
    return { raw, mediaType: MT_OCI_MANIFEST, digest: sha256Digest(raw) };
  }

  async blob(desc: Descriptor): Promise<Chunks> {
    const e = this.#blobs.get(desc.digest);
    if (!e) throw new WardError('ERR_IMAGE_NOT_FOUND', `blob ${desc.digest} not in ${this.#path}`);
    return this.#chunks(e);
  }

  async close(): Promise<void> {}
}

export class DockerArchiveDestination implements ImageDestination {
  readonly wantsPlainUncompressed = true;
  readonly #path: string;
  readonly #ref: string | undefined;
  #staging: Staging | undefined;
  #manifest: Buffer | undefined;

  constructor(path: string, ref: string | undefined) {
    this.#path = resolve(path);
    this.#ref = ref;
  }

  async #stage(): Promise<Staging> {
    this.#staging ??= await Staging.create(dirname(this.#path));
    return this.#staging;
  }

  async hasBlob(): Promise<boolean> {
    return false;
  }

  async putBlob(data: Chunks, known?: BlobWritten): Promise<BlobWritten> {
    return (await this.#stage()).put(data, known);
  }

  async putManifest(raw: Buffer): Promise<void> {
    this.#manifest = raw;
  }

  async commit(): Promise<void> {
    if (!this.#manifest) throw new TypeError('commit before putManifest');
    const staging = await this.#stage();
    const m = parseManifest(this.#manifest);
    const blob = (digest: string) => {
      const b = staging.blobs.get(digest);
      if (!b) throw new TypeError(`blob ${digest} was not staged`);
      return b;
    };
    const configName = `${hexOf(m.config.digest)}.json`;
    const layerNames = m.layers.map((l) => `${hexOf(l.digest)}.tar`);
    const manifestJson = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: this.#ref ? [normalizeRepoTag(this.#ref)] : [], Layers: layerNames }]));
    const tmp = join(staging.dir, 'archive.tar');
    const out = await open(tmp, 'wx', 0o644);
    const tar = new TarWriter(async (b) => {
      for (let off = 0; off < b.length;) off += (await out.write(b, off, b.length - off)).bytesWritten;
    });
    const written = new Set<string>();
    const add = async (name: string, digest: string) => {
      if (written.has(name)) return;
      written.add(name);
      const b = blob(digest);
      await tar.add(name, b.size, await readFileChunks(b.path, name));
    };
    try {
      await add(configName, m.config.digest);
      for (const [i, l] of m.layers.entries()) await add(layerNames[i]!, l.digest);
      await tar.add('manifest.json', manifestJson.length, [manifestJson]);
      await tar.finish();
    } finally {
      await out.close();
    }
    await rename(tmp, this.#path);
    await staging.remove();
  }

  async abort(): Promise<void> {
    await this.#staging?.remove();
  }
}
