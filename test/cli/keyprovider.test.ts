/**
 * Image keys held by the Ward server, end to end: a real deployment and `ward server`, the private
 * key stored as a secret, `ward image copy --encryption-key ward:APP/ENV/NAME`, and `ward keyprovider`
 * driven with ocicrypt's protocol messages as containerd/CRI-O would send them (Debian's skopeo
 * has no key-provider support).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  LayerDecryptor, parseKeyProviderResponse, parsePrivateOptions, parsePublicOptions, serializeKeyProviderRequest,
} from '../../src/formats/ocicrypt/index.ts';
import { admin, cleanEnv, freePort, initDeployment, startWardServer, ward, type Deployment, type RunningServer } from '../client/deployment.ts';
import { LABELLED_HISTORY, readLayout, sha256, writeLayout } from '../image/fixtures.ts';

const ANNOTATION = 'org.opencontainers.image.enc.keys.provider.ward';
let dep: Deployment;
let server: RunningServer;
let web: string;
let intruder: string;

before(async () => {
  dep = initDeployment();
  server = await startWardServer(dep, await freePort());
  const ops = admin(dep, server.url);
  web = ops.issue('web-1', 'shop', 'prod', join(dep.root, 'web-1'));
  intruder = ops.issue('intruder', 'other', 'prod', join(dep.root, 'intruder'));
  ops.set('shop/prod/IMAGE_KEY', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  ops.set('shop/prod/RSA_KEY', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
});

after(async () => {
  await server?.stop();
  dep?.remove();
});

/** `ward keyprovider` as ocicrypt runs it: request on stdin, identity from the environment. */
function provider(identity: string | undefined, request: Buffer) {
  return ward(['keyprovider'], { cwd: dep.root, env: cleanEnv({ WARD_SERVER: server.url, ...(identity ? { WARD_IDENTITY: identity } : {}) }), input: request });
}

/** Operator commands: the deployment's admin identity. */
const asAdmin = (args: string[]) => ward(args, { cwd: dep.dir, env: cleanEnv({ WARD_SERVER: server.url }) });

test('a layer encrypted to ward:shop/prod/IMAGE_KEY: the key provider unwraps it for the workload, refuses another', async () => {
  const fx = await writeLayout(join(dep.root, 'src'), LABELLED_HISTORY);
  let r = asAdmin(['image', 'copy', '--encryption-key', 'ward:shop/prod/IMAGE_KEY', '--encrypt-layer', '-2', `oci:${join(dep.root, 'src')}:latest`, `oci:${join(dep.root, 'enc')}:v1`]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /1 encrypted/);
  const enc = await readLayout(join(dep.root, 'enc'), 'v1');
  const layer = enc.manifest.layers[2]!;
  assert.ok(layer.mediaType.endsWith('+encrypted'));
  const annotations = (layer as { annotations?: Record<string, string> }).annotations ?? {};
  assert.equal(annotations['org.opencontainers.image.enc.keys.jwe'], undefined, 'only the provider annotation');
  const blob = Buffer.from(annotations[ANNOTATION]!, 'base64');
  assert.deepEqual(JSON.parse(blob.toString()).keys, ['shop/prod/IMAGE_KEY']);

  // ocicrypt's keyunwrap request for `--decryption-key provider:ward` (Parameters.ward = ["Enabled"])
  const request = serializeKeyProviderRequest({ op: 'keyunwrap', parameters: { ward: [Buffer.from('Enabled')] }, annotation: blob });
  r = provider(web, request);
  assert.equal(r.status, 0, r.stderr);
  const priv = parsePrivateOptions(parseKeyProviderResponse(Buffer.from(r.stdout), 'keyunwrap'));
  const pub = parsePublicOptions(Buffer.from(annotations['org.opencontainers.image.enc.pubopts']!, 'base64'));
  const d = new LayerDecryptor(priv, pub);
  const ciphertext = await enc.blob(layer.digest);
  const plain = Buffer.concat([d.update(ciphertext), d.final() ?? Buffer.alloc(0)]);
  assert.equal(sha256(plain), sha256(fx.layers[2]!), 'the unwrapped key decrypts the layer');

  // a workload of another app: refused by the server, no key on stdout
  r = provider(intruder, request);
  assert.equal(r.status, 4, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /ERR_API_DENIED/);
  // no identity at all: a configuration error, no key
  r = provider(undefined, request);
  assert.notEqual(r.status, 0);
  assert.equal(r.stdout, '');

  // ward image copy --decryption-key ward:… as the workload, and as the intruder
  const asWorkload = (id: string, out: string) => ward(['image', 'copy', '-q', '--decryption-key', 'ward:shop/prod/IMAGE_KEY', `oci:${join(dep.root, 'enc')}:v1`, `oci:${join(dep.root, out)}:latest`], {
    cwd: dep.root, env: cleanEnv({ WARD_SERVER: server.url, WARD_IDENTITY: id }),
  });
  r = asWorkload(web, 'dec');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual((await readLayout(join(dep.root, 'dec'))).manifest.layers.map((l) => l.digest), fx.layers.map(sha256));
  r = asWorkload(intruder, 'stolen');
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /ERR_API_DENIED/);
  assert.ok(!existsSync(join(dep.root, 'stolen', 'index.json')), 'nothing written');
});

test('keywrap through the provider (RSA and EC keys), keyunwrap by the workload; malformed requests fail', () => {
  const optsData = randomBytes(200);
  const wrapReq = serializeKeyProviderRequest({
    op: 'keywrap', parameters: { ward: [Buffer.from('shop/prod/RSA_KEY'), Buffer.from('shop/prod/IMAGE_KEY')] }, decryptParameters: {}, optsData,
  });
  let r = provider(undefined, wrapReq);
  assert.notEqual(r.status, 0, 'no identity: no wrapping');
  r = ward(['keyprovider'], { cwd: dep.dir, env: cleanEnv({ WARD_SERVER: server.url }), input: wrapReq });
  assert.equal(r.status, 0, r.stderr);
  const annotation = parseKeyProviderResponse(Buffer.from(r.stdout), 'keywrap');
  assert.deepEqual(JSON.parse(annotation.toString()).keys, ['shop/prod/RSA_KEY', 'shop/prod/IMAGE_KEY']);
  for (const parameters of [{} as Record<string, Buffer[]>, { ward: [Buffer.from('shop/prod/RSA_KEY')] }, { ward: [Buffer.from('shop/prod/IMAGE_KEY')] }]) {
    r = provider(web, serializeKeyProviderRequest({ op: 'keyunwrap', parameters, annotation }));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(parseKeyProviderResponse(Buffer.from(r.stdout), 'keyunwrap'), optsData);
  }
  // a key the annotation does not name: not this provider's, exit 3
  r = provider(web, serializeKeyProviderRequest({ op: 'keyunwrap', parameters: { ward: [Buffer.from('shop/prod/OTHER')] }, annotation }));
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /ERR_OCICRYPT_NO_KEY/);
  // keywrap without a key for this provider: usage error
  r = ward(['keyprovider'], { cwd: dep.dir, env: cleanEnv({ WARD_SERVER: server.url }), input: serializeKeyProviderRequest({ op: 'keywrap', parameters: { other: [Buffer.from('x')] }, decryptParameters: {}, optsData }) });
  assert.equal(r.status, 2, r.stderr);
  for (const bad of [Buffer.from('{"op":"keyunwrap"'), serializeKeyProviderRequest({ op: 'keyunwrap', parameters: {}, annotation: Buffer.from('{"version":2,"keys":["a/b/c"],"jwe":{}}') })]) {
    r = provider(web, bad);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /ERR_OCICRYPT_FORMAT/);
    assert.equal(r.stdout, '');
  }
});
