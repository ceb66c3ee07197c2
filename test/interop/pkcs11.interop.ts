/**
 * The `pkcs11` key provider against SoftHSM2 (Debian's `softhsm2`, installed by
 * test/interop/run.sh): a token is made with softhsm2-util in a private SOFTHSM2_CONF, Ward
 * generates the master key in it, the token itself is asked whether the key is sensitive and
 * non-extractable (through pkcs11js directly, not Ward's own reading), data keys round-trip
 * (also under a KeyHierarchy), and a missing token, key or wrong PIN is refused clearly. End to
 * end: `ward init --pkcs11-*` and a `ward server` process on the token, which refuses to start
 * once the token is deleted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as P11 from 'pkcs11js';
import { openEnvelope, sealEnvelope } from '../../src/crypto/envelope.ts';
import { parseConfig } from '../../src/config.ts';
import { KeyHierarchy, memoryKekStorage } from '../../src/keys/hierarchy.ts';
import { openKeyProvider } from '../../src/keys/index.ts';
import { generatePkcs11Key, openPkcs11KeyProvider, pkcs11KeyAttributes, type Pkcs11Options } from '../../src/keys/pkcs11.ts';
import { ok, run, WARD, type Ran } from './spawn.ts';

const MODULE = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find((p) => existsSync(p));
const PIN = '246810';
let dir = '';
let tokens = '';

const options = (extra: Partial<Pkcs11Options> = {}): Pkcs11Options => ({
  module: MODULE!, token: 'ward-interop', pin: () => Buffer.from(PIN), ...extra,
});

before(() => {
  assert.ok(MODULE, 'libsofthsm2.so not found: install softhsm2');
  dir = mkdtempSync(join(tmpdir(), 'ward-pkcs11-'));
  tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  // read by SoftHSM at C_Initialize, in this process and in softhsm2-util
  process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'ward-interop', '--so-pin', '13579', '--pin', PIN], { stdio: 'pipe' });
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('Ward generates a sensitive, non-extractable AES-256 key; the token confirms it', () => {
  const { keyId } = generatePkcs11Key(options());
  assert.match(keyId, /^pkcs11:[0-9a-f]{16}$/);
  assert.throws(() => generatePkcs11Key(options()), { code: 'ERR_EXISTS' });

  // ask the token directly
  const p11 = createRequire(import.meta.url)('pkcs11js') as typeof P11;
  const lib = new p11.PKCS11();
  lib.load(MODULE!);
  lib.C_Initialize();
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === 'ward-interop')!;
    const session = lib.C_OpenSession(slot, p11.CKF_SERIAL_SESSION);
    lib.C_Login(session, p11.CKU_USER, PIN);
    lib.C_FindObjectsInit(session, [{ type: p11.CKA_LABEL, value: 'ward-master' }]);
    const [key] = lib.C_FindObjects(session, 2);
    lib.C_FindObjectsFinal(session);
    const [extractable, sensitive, neverExtractable] = lib
      .C_GetAttributeValue(session, key!, [{ type: p11.CKA_EXTRACTABLE }, { type: p11.CKA_SENSITIVE }, { type: p11.CKA_NEVER_EXTRACTABLE }])
      .map((a) => a.value);
    assert.deepEqual([extractable, sensitive, neverExtractable], [Buffer.of(0), Buffer.of(1), Buffer.of(1)]);
    assert.throws(() => lib.C_GetAttributeValue(session, key!, [{ type: p11.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
    lib.C_Logout(session);
    lib.C_CloseSession(session);
  } finally {
    lib.C_Finalize();
    lib.close();
  }
  const a = pkcs11KeyAttributes(options());
  assert.equal(a.extractable, false);
  assert.equal(a.sensitive, true);
  assert.equal(`pkcs11:${a.id.toString('hex')}`, keyId);
});

test('data keys wrap and unwrap inside the token; tampering and moving fail; seal and unseal', async () => {
  const p = openPkcs11KeyProvider(options());
  try {
    assert.equal(p.kind, 'pkcs11');
    assert.equal(p.sealed, false);
    const aad = Buffer.from('payments/prod/db-password v1');
    const envelope = await sealEnvelope(p, Buffer.from('s3cret'), aad);
    assert.equal(envelope.wrappedKey.length, 1 + 12 + 32 + 16);
    assert.deepEqual(await openEnvelope(p, envelope, aad), Buffer.from('s3cret'));
    const dataKey = randomBytes(32);
    const wrapped = await p.wrap(dataKey, aad);
    assert.deepEqual(await p.unwrap(wrapped, aad, p.keyId), dataKey);
    const flipped = Buffer.from(wrapped);
    flipped[20]! ^= 1;
    await assert.rejects(p.unwrap(flipped, aad, p.keyId), { code: 'ERR_CRYPTO_AUTH' });
    await assert.rejects(p.unwrap(wrapped, Buffer.from('other record'), p.keyId), { code: 'ERR_CRYPTO_AUTH' });
    await assert.rejects(p.unwrap(wrapped, aad, 'pkcs11:0000000000000000'), { code: 'ERR_KEY_NOT_FOUND' });
    assert.deepEqual(await p.unwrap(wrapped, aad, p.keyId), dataKey, 'the session survives a failed decryption');

    const h = new KeyHierarchy(p, memoryKekStorage());
    const scoped = await sealEnvelope(await h.forScope({ app: 'payments', env: 'prod' }), Buffer.from('v'), aad);
    assert.equal((await openEnvelope(await h.forScope({ app: 'payments', env: 'prod' }), scoped, aad)).toString(), 'v');

    p.seal();
    assert.equal(p.sealed, true);
    await assert.rejects(p.unwrap(wrapped, aad, p.keyId), { code: 'ERR_KEY_SEALED' });
    await assert.rejects(h.unwrap(scoped.wrappedKey, aad, scoped.keyId), { code: 'ERR_KEY_SEALED' });
    await assert.rejects(p.unseal(Buffer.from('000000')), { code: 'ERR_PKCS11_LOGIN' });
    assert.equal(p.sealed, true);
    assert.deepEqual(await p.unseal(), { sealed: false, have: 1, need: 1 });
    assert.deepEqual(await p.unwrap(wrapped, aad, p.keyId), dataKey);
    // a second provider (another server process would do the same) opens the same key
    const q = openPkcs11KeyProvider(options());
    assert.equal(q.keyId, p.keyId);
    assert.deepEqual(await openEnvelope(q, envelope, aad), Buffer.from('s3cret'));
    q.close();
  } finally {
    p.close();
  }
});

test('a lost token session seals the provider; unseal logs in again', async () => {
  const p = openPkcs11KeyProvider(options());
  try {
    const aad = Buffer.from('a');
    const wrapped = await p.wrap(randomBytes(32), aad);
    // close every session of the token, as a token restart would (same module, same process)
    const p11 = createRequire(import.meta.url)('pkcs11js') as typeof P11;
    const lib = new p11.PKCS11();
    lib.load(MODULE!);
    try {
      lib.C_Initialize();
    } catch (e) {
      assert.equal((e as { code: number }).code, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED);
    }
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === 'ward-interop')!;
    lib.C_CloseAllSessions(slot);
    await assert.rejects(p.unwrap(wrapped, aad, p.keyId), { code: 'ERR_KEY_SEALED', message: /lost the session/ });
    assert.equal(p.sealed, true);
    await p.unseal();
    assert.equal((await p.unwrap(wrapped, aad, p.keyId)).length, 32);
  } finally {
    p.close();
  }
});

test('a wrong PIN, key label, token label or module is refused with a clear error', () => {
  assert.throws(() => openPkcs11KeyProvider(options({ pin: () => Buffer.from('999999') })), { code: 'ERR_PKCS11_LOGIN' });
  assert.throws(() => openPkcs11KeyProvider(options({ label: 'nope' })), { code: 'ERR_PKCS11_KEY_NOT_FOUND' });
  assert.throws(() => openPkcs11KeyProvider(options({ token: 'other' })), { code: 'ERR_PKCS11_TOKEN_NOT_FOUND', message: /ward-interop/ });
  assert.throws(() => openPkcs11KeyProvider(options({ module: join(dir, 'absent.so') })), { code: 'ERR_PKCS11_MODULE' });
});

test('an extractable key under the configured label is refused', () => {
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'loose', '--so-pin', '13579', '--pin', PIN], { stdio: 'pipe' });
  const p11 = createRequire(import.meta.url)('pkcs11js') as typeof P11;
  const lib = new p11.PKCS11();
  lib.load(MODULE!);
  lib.C_Initialize();
  try {
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === 'loose')!;
    const session = lib.C_OpenSession(slot, p11.CKF_SERIAL_SESSION | p11.CKF_RW_SESSION);
    lib.C_Login(session, p11.CKU_USER, PIN);
    lib.C_CreateObject(session, [
      { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY }, { type: p11.CKA_KEY_TYPE, value: p11.CKK_AES }, { type: p11.CKA_TOKEN, value: true },
      { type: p11.CKA_VALUE, value: randomBytes(32) }, { type: p11.CKA_EXTRACTABLE, value: true }, { type: p11.CKA_SENSITIVE, value: false },
      { type: p11.CKA_ENCRYPT, value: true }, { type: p11.CKA_DECRYPT, value: true }, { type: p11.CKA_LABEL, value: 'ward-master' }, { type: p11.CKA_ID, value: Buffer.alloc(8, 1) },
    ]);
    lib.C_CloseSession(session);
  } finally {
    lib.C_Finalize();
    lib.close();
  }
  assert.throws(() => openPkcs11KeyProvider(options({ token: 'loose' })), { code: 'ERR_KEY_INVALID', message: /extractable/ });
});

test('openKeyProvider opens it from ward.toml, the PIN from a 0600 file', async () => {
  writeFileSync(join(dir, 'pin'), `${PIN}\n`, { mode: 0o600 });
  const config = parseConfig(`[keys]\nprovider = "pkcs11"\nmodule = ${JSON.stringify(MODULE)}\ntoken = "ward-interop"\npin_file = "pin"\n`, join(dir, 'ward.toml'));
  const p = openKeyProvider(config.keys);
  try {
    assert.equal(p.kind, 'pkcs11');
    const aad = Buffer.from('a');
    assert.deepEqual(await openEnvelope(p, await sealEnvelope(p, Buffer.from('x'), aad), aad), Buffer.from('x'));
  } finally {
    p.close();
  }
});

test('ward init --pkcs11-*, a ward server process round-trips secrets with the token; with the token deleted it refuses to start', async () => {
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'ward-server', '--so-pin', '13579', '--pin', PIN], { stdio: 'pipe' });
  const pinFile = join(dir, 'server.pin');
  writeFileSync(pinFile, `${PIN}\n`, { mode: 0o600 });
  const deployment = join(dir, 'deployment');
  await ok(process.execPath, [WARD, 'init', deployment, '--pkcs11-module', MODULE!, '--pkcs11-token', 'ward-server', '--pkcs11-pin-file', pinFile], dir);
  const toml = readFileSync(join(deployment, 'ward.toml'), 'utf8');
  assert.match(toml, /provider = "pkcs11"/);
  assert.ok(!existsSync(join(deployment, 'master.key')) && !existsSync(join(deployment, 'master.sealed')), 'no master key on disk');
  const attributes = pkcs11KeyAttributes(options({ token: 'ward-server' }));
  assert.deepEqual([attributes.extractable, attributes.sensitive], [false, true], 'the token marks the key non-extractable');

  const server = spawn(process.execPath, [WARD, 'server', '--config', join(deployment, 'ward.toml'), '--listen', '127.0.0.1:0', '--health-listen', ''], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  server.stderr.on('data', (c: Buffer) => (err += c.toString()));
  try {
    const deadline = Date.now() + 30_000;
    while (!/listening on https:\/\/127\.0\.0\.1:(\d+)/.test(err)) {
      assert.ok(server.exitCode === null && Date.now() < deadline, `ward server did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const url = `https://127.0.0.1:${/listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(err)![1]}`;
    const cli = (args: string[], input?: string) => new Promise<Ran>((resolve, reject) => {
      const c = spawn(process.execPath, [WARD, ...args, '--server', url], { cwd: deployment, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      c.on('error', reject);
      c.on('close', (code) => resolve({ code, stdout, stderr }));
      c.stdin.end(input ?? '');
    });
    const set = await cli(['secret', 'set', 'payments/prod/DB'], 'hunter2');
    assert.equal(set.code, 0, set.stderr);
    const got = await cli(['secret', 'get', 'payments/prod/DB']);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.trim(), 'hunter2');
    const status = await cli(['operator', 'status', '--json']);
    assert.deepEqual(JSON.parse(status.stdout), { sealed: false, provider: 'pkcs11', have: 1, need: 1 });
  } finally {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }

  execFileSync('softhsm2-util', ['--delete-token', '--token', 'ward-server'], { stdio: 'pipe' });
  const refused = await run(process.execPath, [WARD, 'server', '--config', join(deployment, 'ward.toml'), '--listen', '127.0.0.1:0', '--health-listen', ''], dir);
  assert.equal(refused.code, 8, refused.stderr);
  assert.match(refused.stderr, /ERR_PKCS11_TOKEN_NOT_FOUND/);
  assert.match(refused.stderr, /ward-server/);
});

test('with the token gone, opening refuses (ERR_PKCS11_TOKEN_NOT_FOUND)', () => {
  rmSync(tokens, { recursive: true });
  mkdirSync(tokens);
  assert.throws(() => openPkcs11KeyProvider(options()), { code: 'ERR_PKCS11_TOKEN_NOT_FOUND' });
});
