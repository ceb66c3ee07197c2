/**
 * `ward dir` against the real `rclone` (Debian's package, installed by test/interop/run.sh), through
 * crypt remotes configured only by environment variables (RCLONE_CONFIG_<NAME>_*): a tree Ward
 * encrypts is listed, checked (`rclone cryptcheck`) and read by rclone, and a tree rclone encrypts
 * (`rclone copy plain crypt:`) is decrypted by Ward, names included; both name modes, directory
 * name encryption on and off, with and without a salt (password2).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { obscure } from '../../src/formats/rclone/index.ts';
import { ok as spawnOk, run as spawnRun, WARD } from './spawn.ts';

let dir = '';
const p = (name: string): string => join(dir, name);
const run = (cmd: string, args: string[], env: Record<string, string> = {}) => spawnRun(cmd, args, dir, { RCLONE_CONFIG: '/dev/null', ...env });
const ok = (cmd: string, args: string[], env: Record<string, string> = {}) => spawnOk(cmd, args, dir, { RCLONE_CONFIG: '/dev/null', ...env });



const PASSWORD = 'interop password ü';
const SALT = 'interop salt';

/** Files covering block boundaries, nested directories, non-ASCII and version-suffixed names. */
const FILES: Record<string, number> = {
  'zero': 0,
  'one byte': 1,
  'docs/65535.bin': 65535,
  'docs/65536': 65536,
  'docs/deep/65537': 65537,
  'docs/deep/three blocks+5': 3 * 65536 + 5,
  'Grüße/日本語.txt': 100,
  'report-v2001-02-03-040506-123.txt': 10,
};

function plainTree(root: string): void {
  for (const [rel, size] of Object.entries(FILES)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), randomBytes(size));
  }
}

function assertSameTree(a: string, b: string): void {
  for (const rel of Object.keys(FILES)) {
    assert.deepEqual(readFileSync(join(b, rel)), readFileSync(join(a, rel)), rel);
  }
  const count = (root: string) => readdirSync(root, { recursive: true }).filter((n) => statSync(join(root, String(n))).isFile()).length;
  assert.equal(count(b), Object.keys(FILES).length);
}

interface Mode {
  label: string;
  salt: boolean;
  flags: string[];
  rclone: Record<string, string>;
}

const MODES: Mode[] = [
  { label: 'standard names, with salt', salt: true, flags: [], rclone: { FILENAME_ENCRYPTION: 'standard' } },
  { label: 'standard names, no salt', salt: false, flags: [], rclone: { FILENAME_ENCRYPTION: 'standard' } },
  {
    label: 'standard names, directory names in clear',
    salt: true,
    flags: ['--directory-name-encryption', 'false'],
    rclone: { FILENAME_ENCRYPTION: 'standard', DIRECTORY_NAME_ENCRYPTION: 'false' },
  },
  { label: 'off (.bin), with salt', salt: true, flags: ['--filename-encryption', 'off'], rclone: { FILENAME_ENCRYPTION: 'off' } },
  { label: 'off (.bin), no salt', salt: false, flags: ['--filename-encryption', 'off'], rclone: { FILENAME_ENCRYPTION: 'off' } },
];

/** Environment for a crypt remote named C over `remote`, with obscured passwords as rclone.conf holds them. */
async function remoteEnv(mode: Mode, remote: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    RCLONE_CONFIG_C_TYPE: 'crypt',
    RCLONE_CONFIG_C_REMOTE: remote,
    RCLONE_CONFIG_C_PASSWORD: (await ok('rclone', ['obscure', PASSWORD])).trim(),
  };
  if (mode.salt) env.RCLONE_CONFIG_C_PASSWORD2 = (await ok('rclone', ['obscure', SALT])).trim();
  for (const [k, v] of Object.entries(mode.rclone)) env[`RCLONE_CONFIG_C_${k}`] = v;
  return env;
}

const wardFlags = (mode: Mode): string[] => ['--password-file', p('pw'), ...(mode.salt ? ['--salt-file', p('salt')] : []), ...mode.flags];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ward-rclone-interop-'));
  plainTree(p('plain'));
  writeFileSync(p('pw'), `${PASSWORD}\n`);
  writeFileSync(p('salt'), `${SALT}\n`);
});

after(() => rmSync(dir, { recursive: true, force: true }));

MODES.forEach((mode, i) => {
  test(`rclone reads what Ward writes: ${mode.label}`, async () => {
    const enc = p(`ward-enc-${i}`);
    await ok(process.execPath, [WARD, 'dir', 'encrypt', p('plain'), enc, ...wardFlags(mode)]);
    const env = await remoteEnv(mode, enc);
    const listed = (await ok('rclone', ['lsf', '-R', '--files-only', 'C:'], env)).trim().split('\n').sort();
    assert.deepEqual(listed, Object.keys(FILES).sort());
    // cryptcheck re-encrypts each plaintext file with the nonce of the encrypted one and compares.
    await ok('rclone', ['cryptcheck', p('plain'), 'C:'], env);
    await ok('rclone', ['copy', 'C:', p(`rclone-dec-${i}`)], env);
    assertSameTree(p('plain'), p(`rclone-dec-${i}`));
    const one = await run('rclone', ['cat', 'C:Grüße/日本語.txt'], env);
    assert.equal(one.code, 0, one.stderr);
  });

  test(`Ward reads what rclone writes: ${mode.label}`, async () => {
    const enc = p(`rclone-enc-${i}`);
    const env = await remoteEnv(mode, enc);
    await ok('rclone', ['copy', p('plain'), 'C:'], env);
    await ok(process.execPath, [WARD, 'dir', 'decrypt', enc, p(`ward-dec-${i}`), ...wardFlags(mode)]);
    assertSameTree(p('plain'), p(`ward-dec-${i}`));
    // rclone keeps modification times; Ward carries them through.
    const rel = 'docs/deep/65537';
    assert.ok(Math.abs(statSync(p(`ward-dec-${i}/${rel}`)).mtimeMs - statSync(p(`plain/${rel}`)).mtimeMs) < 1);
  });
});

test('obscured passwords: rclone reveals what Ward obscures, Ward reads rclone.conf values', async () => {
  const wardObscured = obscure(Buffer.from(PASSWORD));
  assert.equal((await ok('rclone', ['reveal', wardObscured])).trim(), PASSWORD);
  const enc = p('obscured-enc');
  const mode = MODES[0]!;
  const env: Record<string, string> = { ...(await remoteEnv(mode, enc)), RCLONE_CONFIG_C_PASSWORD: wardObscured };
  await ok('rclone', ['copy', p('plain'), 'C:'], env);
  writeFileSync(p('pw.obscured'), wardObscured);
  writeFileSync(p('salt.obscured'), env.RCLONE_CONFIG_C_PASSWORD2!);
  await ok(process.execPath, [WARD, 'dir', 'decrypt', enc, p('obscured-dec'), '--password-file', p('pw.obscured'), '--salt-file', p('salt.obscured'), '--obscured']);
  assertSameTree(p('plain'), p('obscured-dec'));
});

test('a wrong password on an rclone tree fails with exit 3 and writes nothing', async () => {
  const enc = p('rclone-enc-0');
  writeFileSync(p('wrong'), 'not the password');
  const r = await run(process.execPath, [WARD, 'dir', 'decrypt', enc, p('wrong-dec'), '--password-file', p('wrong'), '--salt-file', p('salt')]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /ERR_RCLONE_WRONG_PASSWORD/);
});
