import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexedLayers, labelledLayers, labelSwitch } from '../../src/image/select.ts';
import { parseImageReference } from '../../src/image/reference.ts';

test('labelSwitch reads classic builder, BuildKit and multi-label LABEL lines', () => {
  const cases: Array<[string | undefined, boolean | undefined]> = [
    ['/bin/sh -c #(nop)  LABEL ward.encrypt=true', true],
    ['LABEL ward.encrypt=false', false],
    ['LABEL maintainer=me ward.encrypt="true" other=x', true],
    ["LABEL com.senetas.crypto.enabled='true'", true],
    ['LABEL com.senetas.crypto.enabled=false', false],
    ['LABEL ward.encrypted=true', undefined],
    ['RUN echo LABEL-ish ward.encrypt=true', undefined],
    ['LABEL ward.encrypt=maybe', undefined],
    [undefined, undefined],
  ];
  for (const [line, want] of cases) assert.equal(labelSwitch(line), want, String(line));
});

test('labelledLayers maps history entries (empty_layer skipped) to layers', () => {
  const h = [
    { created_by: 'ADD base' },
    { created_by: 'LABEL ward.encrypt=true', empty_layer: true },
    { created_by: 'COPY a' },
    { created_by: 'ENV X=1', empty_layer: true },
    { created_by: 'COPY b' },
    { created_by: 'LABEL ward.encrypt=false', empty_layer: true },
    { created_by: 'COPY c' },
  ];
  assert.deepEqual(labelledLayers(h, 4), [1, 2]);
  assert.deepEqual(labelledLayers(h.slice(0, 5), 3), [1, 2], 'an open range runs to the top');
  assert.throws(() => labelledLayers(h, 5), { code: 'ERR_IMAGE_FORMAT' });
});

test('indexedLayers: 0-based, negative from the top, deduplicated, bounded', () => {
  assert.deepEqual(indexedLayers([0, -1, 3], 4), [0, 3]);
  assert.deepEqual(indexedLayers([-4], 4), [0]);
  assert.throws(() => indexedLayers([4], 4), { code: 'ERR_USAGE' });
  assert.throws(() => indexedLayers([-5], 4), { code: 'ERR_USAGE' });
});

test('image references as skopeo writes them', () => {
  assert.deepEqual(parseImageReference('oci:/tmp/img:v1'), { transport: 'oci', path: '/tmp/img', tag: 'v1' });
  assert.deepEqual(parseImageReference('oci:img'), { transport: 'oci', path: 'img', tag: undefined });
  assert.deepEqual(parseImageReference('docker-archive:x.tar:repo/app:2'), { transport: 'docker-archive', path: 'x.tar', ref: 'repo/app:2' });
  assert.deepEqual(parseImageReference('docker://localhost:5000/team/app:1.0'), { transport: 'docker', host: 'localhost:5000', repo: 'team/app', tag: '1.0', digest: undefined });
  assert.deepEqual(parseImageReference('docker://alpine'), { transport: 'docker', host: 'docker.io', repo: 'library/alpine', tag: 'latest', digest: undefined });
  const d = `sha256:${'a'.repeat(64)}`;
  assert.deepEqual(parseImageReference(`docker://reg.example.com/app@${d}`), { transport: 'docker', host: 'reg.example.com', repo: 'app', tag: undefined, digest: d });
  for (const bad of ['nope', 'ftp:x', 'oci:', 'docker:/x', 'docker://Reg.example.com/UPPER', 'docker://h.example/app@sha256:12']) {
    assert.throws(() => parseImageReference(bad), { code: 'ERR_IMAGE_REFERENCE' }, bad);
  }
});
