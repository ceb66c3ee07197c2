import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/ward.js', import.meta.url));
const ui = new URL('../../src/cli/ui.ts', import.meta.url).href;
const errors = new URL('../../src/errors.ts', import.meta.url).href;

function ward(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, WARD_DEBUG: '' } });
}

test('ward --help lists commands and the exit codes, and exits 0', () => {
  const r = ward('--help');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /Usage: ward/);
  assert.match(r.stdout, /Exit codes:/);
});

test('ward --version prints the package version', () => {
  const r = ward('--version');
  assert.equal(r.status, 0);
  assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
});

test('an unknown command or flag is a usage error (exit 2) without a stack trace', () => {
  for (const args of [['no-such-command'], ['--no-such-flag']]) {
    const r = ward(...args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^ward: error:/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

function report(debug: boolean) {
  const script = `
    const { reportError, debugEnabled } = await import(${JSON.stringify(ui)});
    const { WardError } = await import(${JSON.stringify(errors)});
    debugEnabled.value = ${debug};
    process.exitCode = reportError(new WardError('ERR_CRYPTO_AUTH', 'decryption failed', { hint: 'check the key' }));`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
}

test('a WardError prints one line with its code, a hint, no colour when piped, and maps to its exit code', () => {
  const r = report(false);
  assert.equal(r.status, 3);
  assert.equal(r.stderr, 'ward: error: decryption failed (ERR_CRYPTO_AUTH)\nward: hint: check the key\n');
  assert.ok(!r.stderr.includes('\u001b['), 'no ANSI escapes when piped');
});

test('--debug adds the stack trace', () => {
  const r = report(true);
  assert.equal(r.status, 3);
  assert.match(r.stderr, /\n\s+at /);
});

test('a command\'s own --version is not taken for the program\'s', () => {
  const r = ward('secret', 'get', 'a/b/c', '--version', '3', '--server', 'https://127.0.0.1:1', '--identity', '/nonexistent');
  assert.doesNotMatch(r.stdout, /^\d+\.\d+\.\d+\n$/);
  assert.notEqual(r.status, 0);
});
