/**
 * `ward image copy`: reads an image from a source transport, decrypts and/or encrypts chosen
 * layers on the fly, and writes it to a destination transport, OCI manifest last.
 *
 * Every blob is verified against its descriptor while it streams (and a decrypted layer against
 * the plaintext digest its private options carry); any failure aborts the destination, which
 * then holds nothing of this copy. Memory stays flat: layers are never buffered whole.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { WardError } from '../errors.ts';
import {
  decryptedMediaType, encryptedMediaType, isEncryptedLayer, LayerDecryptor, LayerEncryptor, unwrapLayerOptions,
  withoutEncryptionAnnotations, wrapLayerKeys,
} from '../formats/ocicrypt/index.ts';
import type { Descriptor, KeyWrapper, Stage } from '../formats/ocicrypt/index.ts';
import {
  buildOciManifest, configDiffIds, configHistory, hostPlatform, MAX_CONFIG_BYTES, MT_OCI_MANIFEST, parseJson, parseManifest,
} from './manifest.ts';
import type { Platform } from './manifest.ts';
import { indexedLayers, labelledLayers } from './select.ts';
import { CHUNK, Digester, ownedOutputs, readAll, through } from './transport.ts';
import type { Chunks, ImageDestination, ImageSource } from './transport.ts';

export interface ProgressEvent {
  /** Short name of the blob, e.g. `layer 2 (sha256:0123abcd)`. */
  name: string;
  done: number;
  total: number;
  state: 'running' | 'done' | 'skipped';
}

export interface CopyOptions {
  platform?: Platform;
  /** Key wrappers with recipients: encrypt the selected layers to them. */
  encryptTo?: readonly KeyWrapper[];
  /** `--encrypt-layer` values; all layers when absent. */
  encryptLayers?: readonly number[];
  /** Select layers by the ward.encrypt labels in the config history. */
  encryptLabelled?: boolean;
  /** Key wrappers with private keys: decrypt every encrypted layer. */
  decryptWith?: readonly KeyWrapper[];
  /**
   * A passphrase wrapper (Ward-only PBES2): always a decryption key; also a recipient when the
   * copy encrypts (other recipients or a layer selection given) or the source has no encrypted layer.
   */
  passphrase?: KeyWrapper;
  onProgress?: (e: ProgressEvent) => void;
  onWarning?: (message: string) => void;
}

export type LayerAction = 'copied' | 'skipped' | 'mounted' | 'encrypted' | 'decrypted' | 'reencrypted';

export interface CopyResult {
  manifest: Buffer;
  layers: Array<{ digest: string; action: LayerAction }>;
}

const GZIP = /\+gzip$|\.tar\.gzip$/;
const ZSTD = /\+zstd$|\.tar\.zstd$/;
const PLAIN_TAR = 'application/vnd.oci.image.layer.v1.tar';

type Step = Stage | ((chunks: Chunks) => Chunks);

function chain(source: Chunks, steps: Step[]): Chunks {
  return steps.reduce<Chunks>((data, s) => (typeof s === 'function' ? s(data) : through(data, s)), source);
}

/** gunzip through zlib's stream (chunks are copied in: zlib may hold on to its input). */
function gunzip(chunks: Chunks): Chunks {
  return Readable.from((async function* () {
    for await (const c of chunks) yield Buffer.from(c);
  })()).pipe(createGunzip({ chunkSize: CHUNK }));
}

function encryptionSelection(opts: CopyOptions, config: Record<string, unknown>, layerCount: number): Set<number> {
  if (!opts.encryptTo?.length) return new Set();
  if (opts.encryptLabelled) return new Set(labelledLayers(configHistory(config), layerCount));
  if (opts.encryptLayers?.length) return new Set(indexedLayers(opts.encryptLayers, layerCount));
  return new Set(Array.from({ length: layerCount }, (_, i) => i));
}

async function copyLayer(
  src: ImageSource, dst: ImageDestination, desc: Descriptor, index: number, encrypt: boolean, diffId: string | undefined, opts: CopyOptions,
): Promise<{ desc: Descriptor; action: LayerAction }> {
  const name = `layer ${index} (${desc.digest.slice(7, 19)})`;
  const progress = (done: number, state: ProgressEvent['state']) => opts.onProgress?.({ name, done, total: desc.size, state });
  let encrypted = isEncryptedLayer(desc);
  let mediaType = desc.mediaType;
  let annotations = desc.annotations;
  let plainDigest = desc.digest;
  const stages: Step[] = [];
  let action: LayerAction = 'copied';
  let plainHash: Digester | undefined;

  if (encrypted && opts.decryptWith?.length) {
    const { priv, pub } = await unwrapLayerOptions(desc.annotations ?? {}, opts.decryptWith);
    // The HMAC authenticates the layer. The plaintext digest in the private options is not
    // enforced: skopeo records the source blob's digest there even when it recompressed the
    // layer before encrypting it, so it need not match the decrypted bytes.
    stages.push(ownedOutputs(new LayerDecryptor(priv, pub)));
    if (encrypt) {
      // Re-encrypting: the new private options record the plaintext digest.
      plainHash = new Digester(undefined, `decrypted ${name}`);
      stages.push(plainHash);
    }
    priv.symkey.fill(0); // the decryptor holds its own copy in a KeyObject
    mediaType = decryptedMediaType(mediaType);
    annotations = withoutEncryptionAnnotations(annotations);
    encrypted = false;
    action = 'decrypted';
  }
  if (dst.wantsPlainUncompressed) {
    if (encrypted) {
      throw new WardError('ERR_IMAGE_UNSUPPORTED', `${name} is encrypted and a docker-archive cannot hold encrypted layers`, {
        hint: 'pass --decryption-key to decrypt it',
      });
    }
    if (ZSTD.test(mediaType)) throw new WardError('ERR_IMAGE_UNSUPPORTED', `${name} is zstd-compressed; docker-archive output needs gzip or plain layers`);
    if (GZIP.test(mediaType)) {
      stages.push(gunzip, new Digester(diffId ? { digest: diffId } : undefined, `uncompressed ${name}`));
      mediaType = PLAIN_TAR;
      plainDigest = diffId ?? plainDigest;
      plainHash = undefined;
    }
  }
  let encryptor: LayerEncryptor | undefined;
  if (encrypt) {
    if (encrypted) {
      opts.onWarning?.(`${name} is already encrypted; it is copied as it is (pass --decryption-key to re-encrypt it)`);
    } else {
      encryptor = new LayerEncryptor(plainDigest);
      stages.push(ownedOutputs(encryptor));
      action = action === 'decrypted' ? 'reencrypted' : 'encrypted';
    }
  }

  if (!stages.length) {
    if (await dst.hasBlob(desc)) {
      progress(desc.size, 'skipped');
      return { desc, action: 'skipped' };
    }
    if (src.origin && dst.mountBlob && (await dst.mountBlob(desc, src.origin))) {
      progress(desc.size, 'skipped');
      return { desc, action: 'mounted' };
    }
  }
  const verify = new Digester(desc, name, (n) => progress(n, 'running'));
  const data = chain(await src.blob(desc), [verify, ...stages]);
  const written = await dst.putBlob(data, stages.length ? undefined : desc);
  progress(desc.size, 'done');
  const out: Descriptor = { mediaType, digest: written.digest, size: written.size };
  if (encryptor) {
    const { priv, pub } = encryptor.options();
    if (plainHash) priv.digest = plainHash.digest;
    try {
      annotations = { ...(annotations ?? {}), ...(await wrapLayerKeys(opts.encryptTo ?? [], priv, pub)) };
    } finally {
      priv.symkey.fill(0);
    }
    out.mediaType = encryptedMediaType(mediaType);
  }
  if (annotations && Object.keys(annotations).length) out.annotations = annotations;
  if (desc.urls) out.urls = desc.urls;
  return { desc: out, action };
}

/**
 * Copies one image from `src` to `dst`, transforming layers as `opts` asks, and commits the
 * destination; on any failure aborts it and rethrows.
 */
export async function copyImage(src: ImageSource, dst: ImageDestination, opts: CopyOptions = {}): Promise<CopyResult> {
  try {
    const resolved = await src.manifest(opts.platform ?? hostPlatform());
    const manifest = parseManifest(resolved.raw);
    if (opts.passphrase) {
      const encrypting = opts.encryptTo?.length || opts.encryptLayers?.length || opts.encryptLabelled || !manifest.layers.some(isEncryptedLayer);
      opts = {
        ...opts,
        decryptWith: [...(opts.decryptWith ?? []), opts.passphrase],
        encryptTo: encrypting ? [...(opts.encryptTo ?? []), opts.passphrase] : opts.encryptTo,
      };
    }
    if (manifest.config.size > MAX_CONFIG_BYTES) throw new WardError('ERR_IMAGE_FORMAT', 'image config is too large');
    const configRaw = await readAll(chain(await src.blob(manifest.config), [new Digester(manifest.config, 'image config')]), MAX_CONFIG_BYTES, 'image config');
    const config = parseJson(configRaw, 'image config');
    const encryptSet = encryptionSelection(opts, config, manifest.layers.length);
    const diffIds = dst.wantsPlainUncompressed ? configDiffIds(config) : [];

    const layers: Descriptor[] = [];
    const report: CopyResult['layers'] = [];
    for (const [i, desc] of manifest.layers.entries()) {
      const r = await copyLayer(src, dst, desc, i, encryptSet.has(i), diffIds[i], opts);
      layers.push(r.desc);
      report.push({ digest: r.desc.digest, action: r.action });
    }
    if (!(await dst.hasBlob(manifest.config))) await dst.putBlob([configRaw], manifest.config);
    const raw = buildOciManifest(manifest.config, layers, manifest.annotations);
    await dst.putManifest(raw, MT_OCI_MANIFEST);
    await dst.commit();
    return { manifest: raw, layers: report };
  } catch (e) {
    await dst.abort().catch(() => {});
    throw e;
  } finally {
    await src.close().catch(() => {});
  }
}
