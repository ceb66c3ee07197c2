/**
 * `ward run` starts fast because it loads only the client path: no server, store, fastify, pino or
 * @peculiar/x509, nor commander. A child records every module it loads (module.registerHooks) while running
 * `ward run` against a dead server, and the list is checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, cleanEnv, freePort } from '../deployment.ts';

const HOOK = `
import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ load(url, context, next) { appendFileSync(process.env.MODULE_LOG, url + '\\n'); return next(url, context); } });
`;

test('ward run loads no server-only module', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-mods-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'modules.txt');
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(HOOK)}`, BIN, 'run', '--wait', '200ms', '--', 'true'], {
    env: cleanEnv({ MODULE_LOG: log, WARD_SERVER: `https://127.0.0.1:${await freePort()}`, WARD_IDENTITY: join(dir, 'none') }),
    encoding: 'utf8',
  });
  assert.equal(r.status, 8, r.stderr); // no identity directory: the run module was loaded, then stopped
  const urls = readFileSync(log, 'utf8').trim().split('\n');
  assert.ok(urls.some((u) => u.endsWith('/src/client/run/index.ts')), 'the run implementation was loaded');
  // commander too: the entrypoint's plain form is parsed without it (src/cli/commands/run.ts)
  const forbidden = urls.filter((u) => /\/src\/(server|store|image|keys)\/|\/node_modules\/(fastify|pino|@peculiar|prom-client|sodium-native|yaml|smol-toml|commander)\//.test(u));
  assert.deepEqual(forbidden, []);
});
