import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, WardError, ExitCode } from '../src/errors.ts';

test('every error code is documented in docs/errors.md and every documented code exists', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set(doc.match(/\bERR_[A-Z0-9_]+\b/g));
  for (const code of Object.keys(ERROR_CODES)) assert.ok(documented.has(code), `${code} missing from docs/errors.md`);
  for (const code of documented) assert.ok(code in ERROR_CODES, `docs/errors.md names unknown code ${code}`);
});

test('WardError carries its code, exit code and status', () => {
  const e = new WardError('ERR_API_DENIED', 'access denied', { hint: 'ask an admin' });
  assert.equal(e.code, 'ERR_API_DENIED');
  assert.equal(e.exitCode, ExitCode.denied);
  assert.equal(e.status, 403);
  assert.equal(e.hint, 'ask an admin');
  assert.ok(e instanceof Error);
});
