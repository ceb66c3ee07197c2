/** `ward image copy` end to end through the real CLI (child processes), and index/platform handling. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyImage, openDestination, openSource } from '../../src/image/index.ts';
import { writeLayout, readLayout, sha256, LABELLED_HISTORY } from './fixtures.ts';

const WARD = join(import.meta.dirname, '..', '..', 'bin', 'ward.js');

function ward(cwd: string, ...args: string[]): Promise<{ status: number; stderr: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, [WARD, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => ok({ status: code ?? -1, stderr }));
  });
}

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ward-image-cli-'));
  test.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('ward image copy: encrypt with jwe keys, decrypt with an encrypted PKCS#8 key (FILE:file=PASS), exit codes', async () => {
  const dir = tmp();
  const { layers } = await writeLayout(join(dir, 'src'), LABELLED_HISTORY);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  writeFileSync(join(dir, 'ec.pub'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'ec.key'), ec.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'kp' }));
  writeFileSync(join(dir, 'kp'), 'kp\n');
  let r = await ward(dir, 'image', 'copy', '--encryption-key', 'jwe:ec.pub', '--encrypt-layer', '-2', 'oci:src:latest', 'oci:enc:v1');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /1 encrypted/);
  assert.ok((await readLayout(join(dir, 'enc'), 'v1')).manifest.layers[2]!.mediaType.endsWith('+encrypted'));
  r = await ward(dir, 'image', 'copy', '--decryption-key', 'ec.key', 'oci:enc:v1', 'oci:dec:latest');
  assert.equal(r.status, 2, 'an encrypted key without its passphrase is a usage error');
  assert.match(r.stderr, /ERR_OCICRYPT_KEY/);
  r = await ward(dir, 'image', 'copy', '-q', '--decryption-key', 'ec.key:file=kp', 'oci:enc:v1', 'oci:dec:latest');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual((await readLayout(join(dir, 'dec'))).manifest.layers.map((l) => l.digest), layers.map(sha256));
});

test('ward image copy --passphrase-file: Ward-only passphrase encryption round trip; wrong passphrase exits 3', async () => {
  const dir = tmp();
  await writeLayout(join(dir, 'src'), LABELLED_HISTORY);
  writeFileSync(join(dir, 'pw'), 'correct horse\n');
  writeFileSync(join(dir, 'bad'), 'wrong horse\n');
  let r = await ward(dir, 'image', 'copy', '-q', '--passphrase-file', 'pw', '--encrypt-labelled', 'oci:src', 'oci:enc');
  assert.equal(r.status, 0, r.stderr);
  r = await ward(dir, 'image', 'copy', '-q', '--passphrase-file', 'bad', 'oci:enc', 'oci:dec');
  assert.equal(r.status, 3);
  assert.match(r.stderr, /ERR_OCICRYPT_NO_KEY/);
  assert.ok(!existsSync(join(dir, 'dec')));
  r = await ward(dir, 'image', 'copy', '-q', '--passphrase-file', 'pw', 'oci:enc', 'oci:dec');
  assert.equal(r.status, 0, r.stderr);
});

test('ward image copy: usage errors exit 2', async () => {
  const dir = tmp();
  for (const args of [
    ['--encrypt-layer', '1', 'oci:a', 'oci:b'],
    ['--encrypt-layer', 'x', '--encryption-key', 'jwe:k', 'oci:a', 'oci:b'],
    ['--encryption-key', 'pgp:k', 'oci:a', 'oci:b'],
    ['--src-tls-verify=maybe', 'oci:a', 'oci:b'],
    ['oci:a', 'ftp://b'],
  ]) {
    const r = await ward(dir, 'image', 'copy', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('an OCI index: the image for the requested platform is copied; a missing platform fails', async () => {
  const dir = tmp();
  const amd = await writeLayout(join(dir, 'src'), LABELLED_HISTORY.slice(0, 1));
  const arm = await writeLayout(join(dir, 'arm'), LABELLED_HISTORY.slice(0, 1));
  // Move the arm64 image's blobs into src, and make src's index.json a multi-platform index.
  for (const d of [arm.manifestDigest, ...arm.layers.map(sha256)]) {
    writeFileSync(join(dir, 'src', 'blobs', 'sha256', d.slice(7)), readFileSync(join(dir, 'arm', 'blobs', 'sha256', d.slice(7))));
  }
  const armManifest = JSON.parse(readFileSync(join(dir, 'arm', 'blobs', 'sha256', arm.manifestDigest.slice(7)), 'utf8')) as { config: { digest: string } };
  writeFileSync(join(dir, 'src', 'blobs', 'sha256', armManifest.config.digest.slice(7)), readFileSync(join(dir, 'arm', 'blobs', 'sha256', armManifest.config.digest.slice(7))));
  const size = (d: string) => readFileSync(join(dir, 'src', 'blobs', 'sha256', d.slice(7))).length;
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.manifestDigest, size: size(amd.manifestDigest), platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.manifestDigest, size: size(arm.manifestDigest), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
  }));
  writeFileSync(join(dir, 'src', 'blobs', 'sha256', sha256(index).slice(7)), index);
  writeFileSync(join(dir, 'src', 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha256(index), size: index.length }] }));
  mkdirSync(join(dir, 'out'));
  for (const [platform, want] of [[{ os: 'linux', architecture: 'arm64' }, arm], [{ os: 'linux', architecture: 'amd64' }, amd]] as const) {
    const dst = join(dir, 'out', platform.architecture);
    await copyImage(openSource(`oci:${join(dir, 'src')}`), openDestination(`oci:${dst}`), { platform });
    assert.deepEqual((await readLayout(dst)).manifest.layers.map((l) => l.digest), want.layers.map(sha256));
  }
  await assert.rejects(copyImage(openSource(`oci:${join(dir, 'src')}`), openDestination(`oci:${join(dir, 'out', 's390x')}`), { platform: { os: 'linux', architecture: 's390x' } }), { code: 'ERR_IMAGE_PLATFORM' });
  const r = await ward(dir, 'image', 'copy', '-q', '--platform', 'linux/arm64/v8', 'oci:src', 'oci:viacli');
  assert.equal(r.status, 0, r.stderr);
});
