/**
 * `ward run`'s commander-free fast path (parseRunArgv) must read a command line exactly as
 * commander does, and leave to commander every line it does not take.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { parseRunArgv, register, type RunFlags } from '../../src/cli/commands/run.ts';

/** What commander hands the run action for `ward run ARGS`. */
async function viaCommander(args: string[]): Promise<{ command: string[]; flags: RunFlags }> {
  const program = new Command('ward').enablePositionalOptions().exitOverride();
  register(program);
  let got: { command: string[]; flags: RunFlags } | undefined;
  program.commands.find((c) => c.name() === 'run')!.exitOverride().action((command: string[], flags: RunFlags) => {
    got = { command, flags };
  });
  await program.parseAsync(['run', ...args], { from: 'user' });
  assert.ok(got, 'the action ran');
  return got;
}

test('the fast path gives the flags and command commander gives', async () => {
  const lines = [
    ['--', 'node', 'server.js'],
    ['--server', 'https://a:1', '--server=https://b:2', '--identity', '/run/ward', '--', 'app', '--flag', '-x'],
    ['--identity', '/run/ward', '--identity', '/keys/app.agekey', '--env-file', 'a.env', '--env-file', 'b.env', '--e2e', '--', 'app'],
    ['--app', 'shop', '--env', 'prod', '--wait', '0', '--files', '/dev/shm/x', '--allow-disk', '--', 'app'],
    ['--template', 'a.tmpl:a.conf', '--template', 'b:c', '--unlock', 'enc:plain:KEY', '--override', '--allow-missing', '--', 'app'],
    ['--watch', '--on-change', 'restart', '--debounce', '2s', '--', 'app', '--', 'x'],
  ];
  for (const args of lines) {
    const fast = parseRunArgv(args);
    assert.ok(fast, `the fast path takes ${args.join(' ')}`);
    assert.deepEqual({ command: fast.command, flags: { ...fast.flags } }, await viaCommander(args).then((r) => ({ command: r.command, flags: { ...r.flags } })), args.join(' '));
  }
});

test('lines the fast path leaves to commander', () => {
  for (const args of [
    ['node', 'server.js'], // no --
    ['--server', 'https://a:1', '--'], // no command
    ['--help', '--', 'app'],
    ['-h', '--', 'app'],
    ['--bogus', '--', 'app'],
    ['--wait', '--', 'app'], // --wait without its value
    ['--e2e=yes', '--', 'app'],
    ['stray', '--', 'app'],
  ]) {
    assert.equal(parseRunArgv(args), undefined, args.join(' '));
  }
});
