/**
 * Zero-knowledge and GitOps routes over real mTLS: recipients CRUD, sealed values the server
 * cannot read (checked by opening every envelope in the database with the master key), the
 * server's own recipient, imports of config sealed to it, and end-to-end encrypted batch answers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { generateKey } from 'openpgp';
import { decrypt as ageDecrypt, parseRecipient, X25519Identity } from '../../src/formats/age/index.ts';
import { readSecretKeys } from '../../src/formats/pgp/index.ts';
import { openSealedValue, sealValue, sealedKind } from '../../src/formats/sealed/index.ts';
import { encryptValueFile } from '../../src/formats/valuefile/index.ts';
import { b64, client, makePki, startTestServer, type Client, type Pki, type TestServer } from './helpers.ts';

let pki: Pki;
let server: TestServer;
let admin: Client;
let workload: Client;
const appIdentity = X25519Identity.generate();
let pgpPublic: string;
let pgpSecret: string;

before(async () => {
  pki = await makePki();
  server = await startTestServer(pki);
  admin = client(server, pki.admin);
  workload = client(server, await pki.workload('shop', 'prod'));
  const k = await generateKey({ type: 'curve25519', userIDs: [{ email: 'app@example.org' }], format: 'armored' });
  pgpPublic = k.publicKey;
  pgpSecret = k.privateKey;
});
after(async () => {
  admin.close();
  workload.close();
  await server.close();
});

async function sealedTo(recipients: { id: string; kind: 'age' | 'pgp'; key: string }[], value: string): Promise<string> {
  return b64(await sealValue(recipients, Buffer.from(value), 'x/y'));
}

describe('recipients', () => {
  test('add (validated), list, remove; only admins change them', async () => {
    const age = appIdentity.recipient.toString();
    let r = await admin.call('PUT', '/v1/recipients/shop/prod', { recipient: age });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { id: age, kind: 'age', added: true });
    r = await admin.call('PUT', '/v1/recipients/shop/prod', { recipient: age });
    assert.equal(r.body.added, false, 'adding again changes nothing');
    r = await admin.call('PUT', '/v1/recipients/shop/team', { recipient: pgpPublic });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.kind, 'pgp');
    assert.match(r.body.id, /^pgp:[0-9a-f]{40,64}$/);

    for (const bad of ['age1notarecipient', 'hello', '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnonsense\n-----END PGP PUBLIC KEY BLOCK-----\n']) {
      r = await admin.call('PUT', '/v1/recipients/shop/prod', { recipient: bad });
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.error.code, 'ERR_API_BAD_REQUEST');
    }
    r = await admin.call('PUT', '/v1/recipients/shop/prod', { recipient: 'x'.repeat(40_000) });
    assert.equal(r.status, 400, 'bounded');

    r = await workload.call('PUT', '/v1/recipients/shop/prod', { recipient: X25519Identity.generate().recipient.toString() });
    assert.equal(r.status, 403, 'a workload may not add recipients');

    r = await admin.call('GET', '/v1/recipients/shop/prod');
    assert.deepEqual(r.body.recipients.map((x: { id: string }) => x.id), [age]);
    assert.equal(r.body.recipients[0].createdBy, pki.admin.spiffeId);

    r = await admin.call('DELETE', '/v1/recipients/shop/team', { id: 'pgp:0000' });
    assert.equal(r.status, 404);
    const team = (await admin.call('GET', '/v1/recipients/shop/team')).body.recipients;
    r = await admin.call('DELETE', '/v1/recipients/shop/team', { id: team[0].id });
    assert.deepEqual(r.body, { removed: true });
    assert.deepEqual((await admin.call('GET', '/v1/recipients/shop/team')).body.recipients, []);

    const audit = (await admin.call('GET', '/v1/audit?limit=1000')).body.records as { operation: string }[];
    for (const op of ['recipient.add', 'recipient.list', 'recipient.remove']) assert.ok(audit.some((a) => a.operation === op), op);
  });
});

describe('sealed values', () => {
  test('with the master key in hand, every sealed value in the database is still age or OpenPGP ciphertext', async () => {
    const age = { id: appIdentity.recipient.toString(), kind: 'age' as const, key: appIdentity.recipient.toString() };
    const pgp = (await admin.call('PUT', '/v1/recipients/zk/pgp', { recipient: pgpPublic })).body;
    const pgpRec = { id: pgp.id, kind: 'pgp' as const, key: (await admin.call('GET', '/v1/recipients/zk/pgp')).body.recipients[0].key };
    const plain = { AGE_ONE: 'age-plaintext-1', AGE_TWO: 'age-plaintext-2', PGP_ONE: 'pgp-plaintext-1' };
    for (const [name, value] of Object.entries(plain)) {
      const to = name.startsWith('AGE') ? [age] : [pgpRec];
      const r = await admin.call('PUT', `/v1/secrets/zk/${name.startsWith('AGE') ? 'age' : 'pgp'}/${name}`, { value: await sealedTo(to, value), sealed: true });
      assert.equal(r.status, 200, r.text);
    }
    await admin.call('PUT', '/v1/secrets/zk/age/PLAIN', { value: b64('not-sealed') });

    // every envelope in the database, opened with the master key, the way the server would
    const db = new DatabaseSync(server.dbPath, { readOnly: true });
    const rows = db.prepare('SELECT app, env, name, version, ciphertext, wrapped_key, key_id, format, sealed FROM secret_versions').all();
    db.close();
    let sealedSeen = 0;
    for (const row of rows) {
      const opened = await server.app.ward.vault.open(
        { app: String(row.app), env: String(row.env), name: String(row.name), version: Number(row.version) },
        { ciphertext: Buffer.from(row.ciphertext as Uint8Array), wrappedKey: Buffer.from(row.wrapped_key as Uint8Array), keyId: String(row.key_id), format: Number(row.format) },
      );
      const text = opened.toString('latin1');
      for (const secret of Object.values(plain)) assert.ok(!text.includes(secret), `${String(row.name)}: plaintext visible to the server`);
      if (row.sealed === 1) {
        sealedSeen += 1;
        assert.equal(sealedKind(opened), String(row.env) === 'age' ? 'age' : 'pgp');
      }
    }
    assert.equal(sealedSeen, 3);

    // and the app, holding its own keys, opens them
    const batch = (await admin.call('GET', '/v1/env/zk/age')).body;
    const one = batch.secrets.find((x: { name: string }) => x.name === 'AGE_ONE');
    assert.equal(one.sealed, true);
    const secretKeys = await readSecretKeys(Buffer.from(pgpSecret), 'app.key');
    assert.equal((await openSealedValue(Buffer.from(one.value, 'base64'), { age: [appIdentity], pgp: [] }, 'AGE_ONE')).toString(), plain.AGE_ONE);
    const p = (await admin.call('GET', '/v1/secrets/zk/pgp/PGP_ONE')).body;
    assert.equal((await openSealedValue(Buffer.from(p.value, 'base64'), { age: [], pgp: secretKeys }, 'PGP_ONE')).toString(), plain.PGP_ONE);
    await assert.rejects(openSealedValue(Buffer.from(one.value, 'base64'), { age: [X25519Identity.generate()], pgp: [] }, 'AGE_ONE'), { code: 'ERR_SEALED_NO_IDENTITY' });
  });
});

describe('server recipient and import', () => {
  let recipient: string;

  test('the server recipient is generated once and kept across restarts, wrapped by the master key', async () => {
    const r = await workload.call('GET', '/v1/server/recipient');
    assert.equal(r.status, 200, r.text);
    recipient = r.body.recipient;
    assert.match(recipient, /^age1/);
    parseRecipient(recipient);
    assert.equal((await admin.call('GET', '/v1/server/recipient')).body.recipient, recipient);
    const db = new DatabaseSync(server.dbPath, { readOnly: true });
    const row = db.prepare('SELECT * FROM server_keys').get()!;
    db.close();
    assert.equal(row.public_key, recipient);
    assert.ok(!Buffer.from(row.ciphertext as Uint8Array).toString('latin1').includes('AGE-SECRET-KEY'), 'private key not stored in the clear');
  });

  const sealedEnv = (text: string, format: 'env' | 'toml' = 'env') =>
    encryptValueFile(text, format, { recipients: [parseRecipient(recipient)], recipientNames: [recipient] });

  test('a .env sealed to the server imports into APP/ENV; importing it again writes nothing', async () => {
    const content = await sealedEnv('DB_PASSWORD=hunter2\nAPI_KEY=k-123\n');
    let r = await admin.call('POST', '/v1/import', { format: 'env', content, app: 'gitops', env: 'prod' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.imported, { written: 2, unchanged: 0, envs: ['gitops/prod'] });
    assert.equal(Buffer.from((await admin.call('GET', '/v1/secrets/gitops/prod/DB_PASSWORD')).body.value, 'base64').toString(), 'hunter2');
    r = await admin.call('POST', '/v1/import', { format: 'env', content, app: 'gitops', env: 'prod' });
    assert.deepEqual(r.body.imported, { written: 0, unchanged: 2, envs: ['gitops/prod'] });
  });

  test('a TOML file with one table per APP/ENV imports in one step', async () => {
    const content = await sealedEnv('["gitops/dev"]\nDB_PASSWORD = "dev-pw"\n\n[gitops.stage]\nDB_PASSWORD = "stage-pw"\nPORT = 8080\n', 'toml');
    const r = await admin.call('POST', '/v1/import', { format: 'toml', content });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.imported, { written: 3, unchanged: 0, envs: ['gitops/dev', 'gitops/stage'] });
    assert.equal(Buffer.from((await admin.call('GET', '/v1/secrets/gitops/stage/PORT')).body.value, 'base64').toString(), '8080');
  });

  test('bad imports: not sealed to the server, tampered, wrong shape, not allowed', async () => {
    const other = X25519Identity.generate().recipient;
    const foreign = await encryptValueFile('A=1\n', 'env', { recipients: [other], recipientNames: [other.toString()] });
    let r = await admin.call('POST', '/v1/import', { format: 'env', content: foreign, app: 'gitops', env: 'prod' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'ERR_AGE_NO_IDENTITY_MATCH');
    const good = await sealedEnv('A=1\nB=2\n');
    const tampered = good.replace(/^A=WARD\[v1:age:s:(.)/m, (_m, c: string) => `A=WARD[v1:age:s:${c === 'A' ? 'B' : 'A'}`);
    r = await admin.call('POST', '/v1/import', { format: 'env', content: tampered, app: 'gitops', env: 'prod' });
    assert.equal(r.body.error.code, 'ERR_VALUEFILE_AUTH');
    r = await admin.call('POST', '/v1/import', { format: 'env', content: good });
    assert.equal(r.body.error.code, 'ERR_VALUEFILE_SYNTAX', 'an env file needs a target');
    const flat = await sealedEnv('A = "1"\n', 'toml');
    r = await admin.call('POST', '/v1/import', { format: 'toml', content: flat });
    assert.equal(r.body.error.code, 'ERR_VALUEFILE_SYNTAX', 'a top-level key is not in an APP/ENV table');
    r = await workload.call('POST', '/v1/import', { format: 'env', content: good, app: 'other', env: 'prod' });
    assert.equal(r.status, 403, 'a workload may not write another env');
    assert.equal((await admin.call('GET', '/v1/secrets/other/prod/A')).status, 404, 'nothing written');
  });
});

describe('end-to-end batch answers', () => {
  test('the batch is encrypted to the client\'s ephemeral recipient; the JSON is inside', async () => {
    await admin.call('PUT', '/v1/secrets/e2e/prod/TOKEN', { value: b64('e2e-plaintext-value') });
    const eph = X25519Identity.generate();
    const r = await rawGet(`/v1/env/e2e/prod`, { 'ward-e2e-recipient': eph.recipient.toString() });
    assert.equal(r.status, 200);
    assert.equal(r.type, 'application/vnd.ward.e2e+age');
    assert.ok(!r.body.toString('latin1').includes('e2e-plaintext-value'));
    assert.ok(!r.body.toString('latin1').includes(b64('e2e-plaintext-value')));
    const json = JSON.parse((await ageDecrypt([eph], r.body)).toString('utf8'));
    assert.equal(Buffer.from(json.secrets[0].value, 'base64').toString(), 'e2e-plaintext-value');
    const bad = await rawGet('/v1/env/e2e/prod', { 'ward-e2e-recipient': 'age1nope' });
    assert.equal(bad.status, 400);
    const one = await rawGet('/v1/secrets/e2e/prod/TOKEN', { 'ward-e2e-recipient': eph.recipient.toString() });
    assert.equal(one.type, 'application/vnd.ward.e2e+age');
    assert.ok(!one.body.toString('latin1').includes(b64('e2e-plaintext-value')));
    const single = JSON.parse((await ageDecrypt([eph], one.body)).toString('utf8'));
    assert.equal(Buffer.from(single.value, 'base64').toString(), 'e2e-plaintext-value');
    assert.equal(single.name, 'TOKEN');
  });
});

async function rawGet(path: string, headers: Record<string, string>): Promise<{ status: number; type: string; body: Buffer }> {
  const { request, Agent } = await import('node:https');
  const agent = new Agent({ ca: pki.ca.certPem, cert: pki.admin.cert, key: pki.admin.key, servername: 'localhost' });
  try {
    return await new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    agent.destroy();
  }
}
