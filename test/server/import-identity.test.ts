/**
 * The server's own age identity: made once, kept as an envelope under the master key, shared by
 * every instance on the store, and useless without that master key.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { encrypt, decrypt, parseRecipient } from '../../src/formats/age/index.ts';
import { rawKeyProvider } from '../../src/keys/file.ts';
import { serverIdentity } from '../../src/server/import-identity.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'ward-server-identity-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('made once and shared: instances on one store (replicas) converge on one identity that opens what is sealed to it', async () => {
  const path = join(dir, 'a.db');
  const store = await openSqliteStore(path);
  const key = randomBytes(32);
  try {
    const replicas = [serverIdentity(store, rawKeyProvider('k', Buffer.from(key))), serverIdentity(store, rawKeyProvider('k', Buffer.from(key)))];
    const recipients = await Promise.all(replicas.map((r) => r.recipient()));
    assert.equal(recipients[0], recipients[1]);
    const message = await encrypt([parseRecipient(recipients[0]!)], Buffer.from('for the server'));
    for (const r of replicas) assert.equal((await decrypt([await r.identity()], message)).toString(), 'for the server');
    const raw = new DatabaseSync(path, { readOnly: true });
    const rows = raw.prepare('SELECT ciphertext FROM server_keys').all();
    raw.close();
    assert.equal(rows.length, 1);
    assert.ok(!Buffer.from(rows[0]!.ciphertext as Uint8Array).toString('latin1').includes('AGE-SECRET-KEY-1'), 'the private key is not stored in the clear');
  } finally {
    await store.close();
  }
});

test('without the master key that wrapped it the identity cannot be opened', async () => {
  const store = await openSqliteStore(join(dir, 'b.db'));
  try {
    await serverIdentity(store, rawKeyProvider('k', randomBytes(32))).recipient();
    const stranger = serverIdentity(store, rawKeyProvider('k', randomBytes(32)));
    await stranger.recipient(); // the public half is readable
    // another master key: refused by its id before any decryption is tried
    await assert.rejects(stranger.identity(), { code: 'ERR_KEY_NOT_FOUND' });
  } finally {
    await store.close();
  }
});
