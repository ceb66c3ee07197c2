/**
 * `[server] import_dir`: files sealed to the server are imported at start and again when they
 * change; a bad file is logged and audited as an error without stopping the others or the server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecipient } from '../../src/formats/age/index.ts';
import { encryptValueFile } from '../../src/formats/valuefile/index.ts';
import { listImportFiles, watchImportDir, type ImportDirWatcher } from '../../src/server/import-dir.ts';
import { serverIdentity, type ServerIdentity } from '../../src/server/import-identity.ts';
import { rawKeyProvider } from '../../src/keys/file.ts';
import { makePki, startTestServer, type TestServer } from './helpers.ts';
import { randomBytes } from 'node:crypto';

let server: TestServer;
let identity: ServerIdentity;
let recipient: string;
let dir: string;
const logged: { level: string; o: Record<string, unknown>; msg: string }[] = [];
const log = {
  info: (o: object, msg: string) => void logged.push({ level: 'info', o: o as Record<string, unknown>, msg }),
  error: (o: object, msg: string) => void logged.push({ level: 'error', o: o as Record<string, unknown>, msg }),
};

before(async () => {
  const keys = rawKeyProvider('test', randomBytes(32));
  server = await startTestServer(await makePki(), { keys });
  identity = serverIdentity(server.store, keys);
  recipient = await identity.recipient();
  dir = mkdtempSync(join(tmpdir(), 'ward-import-dir-'));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const seal = (text: string, format: 'env' | 'toml' | 'yaml') => encryptValueFile(text, format, { recipients: [parseRecipient(recipient)], recipientNames: [recipient] });

async function value(app: string, env: string, name: string): Promise<string | undefined> {
  const row = await server.store.getSecret({ app, env, name });
  if (!row) return undefined;
  return (await server.app.ward.vault.open(row, row)).toString();
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('layout: top-level TOML files, APP/ENV.ext files; other names ignored', () => {
  const d = mkdtempSync(join(tmpdir(), 'ward-import-layout-'));
  try {
    mkdirSync(join(d, 'shop'));
    mkdirSync(join(d, '.git'));
    for (const f of ['all.toml', 'README.md', '.hidden.toml', 'shop/prod.env', 'shop/dev.yml', 'shop/notes.txt', '.git/x.toml']) writeFileSync(join(d, f), '');
    assert.deepEqual(listImportFiles(d).map((f) => [f.path.slice(d.length + 1), f.format, f.target ? `${f.target.app}/${f.target.env}` : '-']), [
      ['all.toml', 'toml', '-'],
      ['shop/dev.yml', 'yaml', 'shop/dev'],
      ['shop/prod.env', 'env', 'shop/prod'],
    ]);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('files are loaded at start and on change; a bad file is reported and audited, the rest still load', async () => {
  mkdirSync(join(dir, 'shop'));
  writeFileSync(join(dir, 'shop', 'prod.env'), await seal('DB_PASSWORD=v1\n', 'env'));
  writeFileSync(join(dir, 'envs.toml'), await seal('["billing/prod"]\nAPI_KEY = "b1"\n', 'toml'));
  writeFileSync(join(dir, 'broken.toml'), 'this is = not [ sealed\n');
  let watcher: ImportDirWatcher | undefined;
  try {
    watcher = watchImportDir({ dir, ctx: server.app.ward, identity, log, debounceMs: 50 });
    await watcher.idle();
    assert.equal(await value('shop', 'prod', 'DB_PASSWORD'), 'v1');
    assert.equal(await value('billing', 'prod', 'API_KEY'), 'b1');
    const bad = logged.find((l) => l.level === 'error' && l.o.file === 'broken.toml');
    assert.ok(bad, 'the bad file is logged');
    assert.ok(!JSON.stringify(logged).includes('v1'), 'no value in the log');

    // a change is picked up (fs.watch, debounced)
    writeFileSync(join(dir, 'shop', 'prod.env'), await seal('DB_PASSWORD=v2\nNEW=n\n', 'env'));
    await until(async () => (await value('shop', 'prod', 'DB_PASSWORD')) === 'v2', 'the changed file to load');
    await watcher.idle();
    assert.equal(await value('shop', 'prod', 'NEW'), 'n');
    // unchanged values write no new version when the directory is loaded again
    assert.equal((await server.store.getSecret({ app: 'billing', env: 'prod', name: 'API_KEY' }))?.version, 1);

    const audit = await server.store.readAudit(0, 1000);
    const imports = audit.filter((a) => a.operation === 'secret.import');
    assert.ok(imports.some((a) => a.path === 'broken.toml' && a.outcome === 'error'));
    assert.ok(imports.some((a) => a.path === join('shop', 'prod.env') && a.outcome === 'granted' && /written=2/.test(a.detail ?? '')));
    assert.ok(imports.every((a) => a.identity === 'ward-server' && a.source === 'import_dir'));
  } finally {
    watcher?.close();
    await watcher?.idle();
  }
});
