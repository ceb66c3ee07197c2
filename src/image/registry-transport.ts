/**
 * `docker://` images: reading and writing through the distribution API.
 *
 *   GET  /v2/<repo>/manifests/<ref>     (Accept: OCI/Docker manifests and indexes)
 *   GET  /v2/<repo>/blobs/<digest>      HEAD to test presence
 *   POST /v2/<repo>/blobs/uploads/[?mount=<digest>&from=<repo>]  → 202 Location | 201 mounted
 *   PUT  <location>?digest=…            monolithic upload when the digest is known beforehand
 *   PATCH <location> (streamed) then PUT <location>?digest=…     when it is computed on the way
 *   PUT  /v2/<repo>/manifests/<tag|digest>                       last: the commit point
 *
 * Manifests fetched by digest are verified; blobs are verified by the copier.
 */
import { WardError } from '../errors.ts';
import type { Descriptor } from '../formats/ocicrypt/index.ts';
import {
  isIndexMediaType, MANIFEST_ACCEPT, manifestMediaType, MAX_MANIFEST_BYTES, parseIndex, selectPlatform, sha256Digest,
} from './manifest.ts';
import type { Platform } from './manifest.ts';
import { RegistryClient } from './registry-client.ts';
import type { RegistryOptions, Response } from './registry-client.ts';
import { Digester, readAll, through } from './transport.ts';
import type { BlobWritten, Chunks, ImageDestination, ImageSource, ResolvedManifest } from './transport.ts';

interface DockerRef {
  host: string;
  repo: string;
  tag: string | undefined;
  digest: string | undefined;
}

export class RegistrySource implements ImageSource {
  readonly #client: RegistryClient;
  readonly #ref: DockerRef;
  readonly origin: { host: string; repo: string };

  constructor(ref: DockerRef, opts: RegistryOptions) {
    this.#ref = ref;
    this.#client = new RegistryClient(ref.host, ref.repo, opts, 'pull');
    this.origin = { host: ref.host, repo: ref.repo };
  }

  async #getManifest(reference: string, expectedDigest: string | undefined): Promise<ResolvedManifest> {
    const res = await this.#client.request('GET', `/v2/${this.#ref.repo}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT.join(', ') } });
    if (res.status !== 200) return this.#client.fail(res, `fetching manifest ${reference}`);
    const raw = await readAll(res.body, MAX_MANIFEST_BYTES, 'manifest');
    const digest = sha256Digest(raw);
    if (expectedDigest && digest !== expectedDigest) throw new WardError('ERR_IMAGE_DIGEST_MISMATCH', `manifest from ${this.#ref.host} does not match ${expectedDigest}`);
    return { raw, digest, mediaType: manifestMediaType(raw, String(res.headers['content-type'] ?? '').split(';')[0]) };
  }

  async manifest(platform: Platform): Promise<ResolvedManifest> {
    let m = await this.#getManifest(this.#ref.digest ?? this.#ref.tag ?? 'latest', this.#ref.digest);
    for (let depth = 0; isIndexMediaType(m.mediaType); depth++) {
      if (depth > 3) throw new WardError('ERR_IMAGE_FORMAT', 'image indexes nested too deeply');
      const d = selectPlatform(parseIndex(m.raw), platform);
      m = await this.#getManifest(d.digest, d.digest);
    }
    return m;
  }

  async blob(desc: Descriptor): Promise<Chunks> {
    const res = await this.#client.request('GET', `/v2/${this.#ref.repo}/blobs/${desc.digest}`);
    if (res.status !== 200) return this.#client.fail(res, `fetching blob ${desc.digest}`);
    return res.body as AsyncIterable<Buffer>;
  }

  async close(): Promise<void> {}
}

export class RegistryDestination implements ImageDestination {
  readonly wantsPlainUncompressed = false;
  readonly #client: RegistryClient;
  readonly #ref: DockerRef;
  readonly #uploads = new Set<string>();
  #manifest: { raw: Buffer; mediaType: string } | undefined;

  constructor(ref: DockerRef, opts: RegistryOptions) {
    this.#ref = ref;
    this.#client = new RegistryClient(ref.host, ref.repo, opts, 'pull,push');
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const res = await this.#client.request('HEAD', `/v2/${this.#ref.repo}/blobs/${desc.digest}`);
    res.body.resume();
    if (res.status === 200) return Number(res.headers['content-length'] ?? desc.size) === desc.size;
    if (res.status === 404) return false;
    return this.#client.fail(res, 'checking a blob');
  }

  async #startUpload(query = ''): Promise<Response> {
    const res = await this.#client.request('POST', `/v2/${this.#ref.repo}/blobs/uploads/${query}`, { headers: { 'content-length': 0 } });
    if (res.status !== 202 && res.status !== 201) return this.#client.fail(res, 'starting a blob upload');
    res.body.resume();
    return res;
  }

  #location(res: Response): URL {
    const loc = res.headers.location;
    if (!loc) throw new WardError('ERR_IMAGE_REGISTRY', `registry ${this.#ref.host} sent no upload location`);
    return this.#client.url(loc);
  }

  async mountBlob(desc: Descriptor, from: { host: string; repo: string }): Promise<boolean> {
    if (from.host !== this.#ref.host || from.repo === this.#ref.repo) return false;
    const res = await this.#startUpload(`?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from.repo)}`);
    if (res.status === 201) return true;
    // The registry opened an ordinary upload instead: drop it.
    await this.#cancel(this.#location(res));
    return false;
  }

  async #cancel(loc: URL): Promise<void> {
    this.#uploads.delete(loc.href);
    await this.#client.request('DELETE', loc).then((r) => r.body.resume(), () => {});
  }

  async putBlob(data: Chunks, known?: BlobWritten): Promise<BlobWritten> {
    let loc = this.#location(await this.#startUpload());
    this.#uploads.add(loc.href);
    const started = loc;
    try {
      if (known) {
        loc.searchParams.set('digest', known.digest);
        const res = await this.#client.request('PUT', loc, { headers: { 'content-type': 'application/octet-stream', 'content-length': known.size }, body: data });
        if (res.status !== 201) return await this.#client.fail(res, 'uploading a blob');
        res.body.resume();
        this.#uploads.delete(started.href);
        return known;
      }
      const digest = new Digester(undefined, 'blob');
      const patch = await this.#client.request('PATCH', loc, { headers: { 'content-type': 'application/octet-stream' }, body: through(data, digest) });
      if (patch.status !== 202) return await this.#client.fail(patch, 'uploading a blob');
      patch.body.resume();
      loc = this.#location(patch);
      loc.searchParams.set('digest', digest.digest);
      const put = await this.#client.request('PUT', loc, { headers: { 'content-length': 0 }, body: Buffer.alloc(0) });
      if (put.status !== 201) return await this.#client.fail(put, 'completing a blob upload');
      put.body.resume();
      this.#uploads.delete(started.href);
      return { digest: digest.digest, size: digest.size };
    } catch (e) {
      await this.#cancel(started);
      throw e;
    }
  }

  async putManifest(raw: Buffer, mediaType: string): Promise<void> {
    this.#manifest = { raw, mediaType };
  }

  async commit(): Promise<void> {
    if (!this.#manifest) throw new TypeError('commit before putManifest');
    const { raw, mediaType } = this.#manifest;
    const reference = this.#ref.tag ?? sha256Digest(raw);
    if (this.#ref.digest && !this.#ref.tag && this.#ref.digest !== reference) {
      throw new WardError('ERR_IMAGE_REFERENCE', 'a destination digest must be the digest of the manifest written', { hint: 'push by tag instead' });
    }
    const res = await this.#client.request('PUT', `/v2/${this.#ref.repo}/manifests/${reference}`, { headers: { 'content-type': mediaType, 'content-length': raw.length }, body: raw });
    if (res.status !== 201 && res.status !== 200) return this.#client.fail(res, 'writing the manifest');
    res.body.resume();
  }

  async abort(): Promise<void> {
    for (const href of [...this.#uploads]) await this.#cancel(new URL(href));
  }
}
