import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveCommand } from '../../../src/client/run/exec.ts';

test('commands resolve via PATH like a shell: first executable regular file wins', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-exec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [a, b, c] = ['a', 'b', 'c'].map((d) => join(dir, d));
  for (const d of [a!, b!, c!]) mkdirSync(d);
  writeFileSync(join(a!, 'tool'), '#!/bin/sh\n');
  chmodSync(join(a!, 'tool'), 0o644); // not executable: skipped
  mkdirSync(join(b!, 'tool')); // a directory: skipped
  writeFileSync(join(c!, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  assert.equal(resolveCommand('tool', [a, b, c].join(':')), join(c!, 'tool'));
  assert.equal(resolveCommand('sh', '/nonexistent:/bin'), '/bin/sh');
  assert.equal(resolveCommand('./c/tool', '', dir), join(c!, 'tool'));
  assert.equal(resolveCommand(join(c!, 'tool'), ''), join(c!, 'tool'));
});

test('a missing or non-executable command is a usage error naming it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-exec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'data'), 'x', { mode: 0o644 });
  assert.throws(() => resolveCommand('no-such-tool-xyz', '/bin:/usr/bin'), (e: Error & { code?: string }) => e.code === 'ERR_USAGE' && /command not found: no-such-tool-xyz/.test(e.message));
  assert.throws(() => resolveCommand(join(dir, 'data'), ''), { code: 'ERR_USAGE' });
  assert.throws(() => resolveCommand('', '/bin'), { code: 'ERR_USAGE' });
});
