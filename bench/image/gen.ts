/**
 * Writes an OCI layout at argv[2] holding one image (tag `latest`) with one uncompressed layer:
 * a tar of one file of argv[3] random bytes. Streams: memory stays flat whatever the size.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdir, open, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TarWriter } from '../../src/image/tar.ts';

const [dir, sizeArg] = process.argv.slice(2);
if (!dir || !sizeArg) throw new Error('usage: gen.ts DIR BYTES');
const size = Number(sizeArg);
const blobs = join(dir, 'blobs', 'sha256');
await mkdir(blobs, { recursive: true });

function* random(n: number): Generator<Buffer> {
  const chunk = Buffer.alloc(1 << 20);
  for (let left = n; left > 0; left -= chunk.length) {
    randomFillSync(chunk);
    yield Buffer.from(chunk.subarray(0, Math.min(left, chunk.length)));
  }
}

const hash = createHash('sha256');
const tmp = join(dir, 'layer.tmp');
const out = await open(tmp, 'w');
let layerSize = 0;
const tar = new TarWriter(async (b) => {
  hash.update(b);
  layerSize += b.length;
  await out.write(b);
});
await tar.add('data.bin', size, random(size));
await tar.finish();
await out.close();
const layerDigest = `sha256:${hash.digest('hex')}`;
await rename(tmp, join(blobs, layerDigest.slice(7)));

const put = async (b: Buffer) => {
  const d = `sha256:${createHash('sha256').update(b).digest('hex')}`;
  await writeFile(join(blobs, d.slice(7)), b);
  return d;
};
const config = Buffer.from(JSON.stringify({
  architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDigest] },
  history: [{ created_by: 'ADD data.bin /' }],
}));
const manifest = Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layerSize }],
}));
const md = await put(manifest);
await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
await writeFile(join(dir, 'index.json'), JSON.stringify({
  schemaVersion: 2,
  manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
}));
