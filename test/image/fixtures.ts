/**
 * Test images: a tiny OCI layout with random tar layers (optionally gzip-compressed) and a config
 * whose history holds Dockerfile-like entries, including the ward.encrypt label lines.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TarWriter } from '../../src/image/tar.ts';

export const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A tar archive holding one file of `size` random bytes. */
export async function randomTar(size: number, name = 'data.bin'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const tar = new TarWriter(async (b) => {
    chunks.push(Buffer.from(b));
  });
  await tar.add(name, size, [randomBytes(size)]);
  await tar.finish();
  return Buffer.concat(chunks);
}

export interface FixtureLayer {
  /** Dockerfile instruction recorded in the history, e.g. `RUN make`. */
  createdBy: string;
  size: number;
  gzip?: boolean;
}

export interface Fixture {
  manifestDigest: string;
  layers: Buffer[]; // blobs as stored (compressed when gzip)
  diffIds: string[];
}

/**
 * Writes an OCI layout at `dir` tagged `tag`. `history` mixes layers and empty (label) entries:
 * strings are empty-layer instructions, objects make a layer.
 */
export async function writeLayout(dir: string, history: Array<string | FixtureLayer>, tag = 'latest'): Promise<Fixture> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer) => {
    const d = sha256(b);
    await writeFile(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const layers: Buffer[] = [];
  const diffIds: string[] = [];
  const descs = [];
  for (const [i, h] of history.entries()) {
    if (typeof h === 'string') continue;
    const tar = await randomTar(h.size, `file${i}.bin`);
    const blob = h.gzip ? gzipSync(tar) : tar;
    diffIds.push(sha256(tar));
    layers.push(blob);
    descs.push({ mediaType: `application/vnd.oci.image.layer.v1.tar${h.gzip ? '+gzip' : ''}`, digest: await put(blob), size: blob.length });
  }
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: history.map((h) => typeof h === 'string'
      ? { created: '2026-01-01T00:00:00Z', created_by: h, empty_layer: true }
      : { created: '2026-01-01T00:00:00Z', created_by: h.createdBy }),
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
    layers: descs,
  }));
  const manifestDigest = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return { manifestDigest, layers, diffIds };
}

export interface LayoutImage {
  manifest: { config: { digest: string }; layers: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }> };
  blob(digest: string): Promise<Buffer>;
}

/** Reads the one (or the tagged) image of a layout. */
export async function readLayout(dir: string, tag?: string): Promise<LayoutImage> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  const d = tag ? index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag) : index.manifests[index.manifests.length - 1];
  if (!d) throw new Error(`no image ${tag} in ${dir}`);
  const blob = (digest: string) => readFile(join(dir, 'blobs', 'sha256', digest.slice(7)));
  return { manifest: JSON.parse((await blob(d.digest)).toString()) as LayoutImage['manifest'], blob };
}

/** A Dockerfile-like history: base layer, then labelled secret layers, then an app layer. */
export const LABELLED_HISTORY: Array<string | FixtureLayer> = [
  { createdBy: '/bin/sh -c #(nop) ADD file:abc in / ', size: 3000, gzip: true },
  '/bin/sh -c #(nop)  LABEL ward.encrypt=true',
  { createdBy: 'COPY secrets /secrets # buildkit', size: 5000 },
  { createdBy: 'RUN /bin/sh -c make secrets # buildkit', size: 7000, gzip: true },
  'LABEL ward.encrypt=false',
  'ENV PATH=/usr/bin',
  { createdBy: 'COPY app /app # buildkit', size: 2000 },
];
