/** Layers encrypted by the Go reference (skopeo 1.9.3 / containers/ocicrypt) decrypt with Ward. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import {
  decryptedMediaType, JweKeyWrapper, LayerDecryptor, parsePrivateKey, stageTransform, unwrapLayerOptions,
} from '../../../src/formats/ocicrypt/index.ts';

const V = join(import.meta.dirname, 'vectors');
const blob = (digest: string) => readFileSync(join(V, 'image', 'blobs', 'sha256', digest.slice(7)));
const expected = JSON.parse(readFileSync(join(V, 'expected.json'), 'utf8')) as { diff_ids: string[] };
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Layer { mediaType: string; digest: string; annotations?: Record<string, string> }

function manifest(tag: string): { layers: Layer[] } {
  const index = JSON.parse(readFileSync(join(V, 'image', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
  const d = index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === tag)!;
  return JSON.parse(blob(d.digest).toString()) as { layers: Layer[] };
}

async function decrypt(layer: Layer, keyFile: string): Promise<Buffer> {
  const wrapper = new JweKeyWrapper([], [{ kind: 'private', key: parsePrivateKey(readFileSync(join(V, keyFile))) }]);
  const { priv, pub } = await unwrapLayerOptions(layer.annotations ?? {}, [wrapper]);
  const chunks: Buffer[] = [];
  for await (const c of Readable.from([blob(layer.digest)]).pipe(stageTransform(new LayerDecryptor(priv, pub)))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

for (const [tag, keys] of [['multi', ['rsa.pem', 'ec.pem']], ['single', ['ec.pem']]] as const) {
  for (const key of keys) {
    test(`skopeo-encrypted image "${tag}" decrypts with ${key}`, async () => {
      const layers = manifest(tag).layers;
      for (const [i, layer] of layers.entries()) {
        const plain = layer.mediaType.endsWith('+encrypted') ? await decrypt(layer, key) : blob(layer.digest);
        const tar = decryptedMediaType(layer.mediaType).endsWith('+gzip') ? gunzipSync(plain) : plain;
        assert.equal(sha256(tar), expected.diff_ids[i]);
      }
    });
  }
}

test('a flipped ciphertext bit in a Go-encrypted layer fails the HMAC', async () => {
  const layer = manifest('single').layers[1]!;
  const wrapper = new JweKeyWrapper([], [{ kind: 'private', key: parsePrivateKey(readFileSync(join(V, 'ec.pem'))) }]);
  const { priv, pub } = await unwrapLayerOptions(layer.annotations ?? {}, [wrapper]);
  const bad = Buffer.from(blob(layer.digest));
  bad[bad.length >> 1]! ^= 0x80;
  const d = new LayerDecryptor(priv, pub);
  d.update(bad);
  assert.throws(() => d.final(), { code: 'ERR_OCICRYPT_HMAC_MISMATCH' });
  assert.equal(readdirSync(join(V, 'image', 'blobs', 'sha256')).length, 7);
});
