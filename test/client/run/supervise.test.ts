import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitCodeOf, Supervisor, type OnChange } from '../../../src/client/run/supervise.ts';

// The app: logs what happens to it into $LOG, exits 42 on SIGTERM, or with $CODE after $AFTER ms.
const APP = `
const fs = require('node:fs');
const log = (s) => fs.appendFileSync(process.env.LOG, s + '\\n');
log('start ' + process.env.V + ' ' + process.pid);
process.on('SIGHUP', () => log('hup ' + process.env.V));
process.on('SIGUSR1', () => log('usr1'));
process.on('SIGTERM', () => { log('term'); process.exit(42); });
if (process.env.AFTER) setTimeout(() => process.exit(Number(process.env.CODE)), Number(process.env.AFTER));
else setInterval(() => {}, 1000);
`;

function setup(t: { after: (fn: () => void) => void }, env: Record<string, string>, onChange: OnChange = 'hup') {
  const dir = mkdtempSync(join(tmpdir(), 'ward-sup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logPath = join(dir, 'log');
  let version = 1;
  let refreshes = 0;
  const sup = new Supervisor({
    path: process.execPath,
    args: ['node', '-e', APP],
    env: { LOG: logPath, V: '1', ...env },
    onChange,
    debounceMs: 50,
    log: () => {},
    refresh: async () => {
      refreshes++;
      version++;
      return { LOG: logPath, V: String(version), ...env };
    },
  });
  // A failed assertion must not leave the app running: the test process would wait for it forever.
  t.after(() => {
    if (sup.pid !== undefined) try { process.kill(sup.pid, 'SIGKILL'); } catch { /* already gone */ }
  });
  const log = () => { try { return readFileSync(logPath, 'utf8').trim().split('\n'); } catch { return []; } };
  return { sup, log, refreshes: () => refreshes };
}

async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('exit codes: the child\'s own, or 128+signal', () => {
  assert.equal(exitCodeOf(0, null), 0);
  assert.equal(exitCodeOf(3, null), 3);
  assert.equal(exitCodeOf(null, 'SIGKILL'), 137);
  assert.equal(exitCodeOf(null, 'SIGTERM'), 143);
});

test('the app\'s exit code comes back', async (t) => {
  const { sup } = setup(t, { AFTER: '50', CODE: '7' });
  sup.start();
  assert.equal(await sup.exited, 7);
});

test('killed by a signal: 128+N', async (t) => {
  const { sup, log } = setup(t, {});
  const pid = sup.start();
  await until(() => log().length > 0);
  process.kill(pid, 'SIGKILL');
  assert.equal(await sup.exited, 137);
});

test('signals sent to Ward reach the app; SIGTERM ends it with its own code', async (t) => {
  const { sup, log } = setup(t, {});
  sup.start();
  await until(() => log().length > 0);
  process.kill(process.pid, 'SIGUSR1');
  await until(() => log().includes('usr1'));
  process.kill(process.pid, 'SIGTERM');
  assert.equal(await sup.exited, 42);
  assert.ok(log().includes('term'));
  assert.equal(process.listenerCount('SIGTERM'), 0, 'handlers removed');
});

test('changes within the debounce window are delivered once, as SIGHUP', async (t) => {
  const { sup, log, refreshes } = setup(t, {});
  const pid = sup.start();
  await until(() => log().length > 0);
  sup.changed();
  sup.changed();
  sup.changed();
  await until(() => log().some((l) => l.startsWith('hup')));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(refreshes(), 1);
  assert.deepEqual(log().filter((l) => l.startsWith('hup')), ['hup 1'], 'SIGHUP keeps the environment; files carry the change');
  assert.equal(sup.pid, pid);
  process.kill(pid, 'SIGTERM');
  assert.equal(await sup.exited, 42);
});

test('--on-change restart: the app is restarted with the new environment', async (t) => {
  const { sup, log } = setup(t, {}, 'restart');
  const first = sup.start();
  await until(() => log().length > 0);
  sup.changed();
  await until(() => log().some((l) => l.startsWith('start 2')));
  assert.ok(log().includes('term'));
  assert.notEqual(sup.pid, first);
  process.kill(sup.pid!, 'SIGTERM');
  assert.equal(await sup.exited, 42);
});
