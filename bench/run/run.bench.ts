/**
 * `ward run -- /bin/true` with 20 secrets against a local `ward server`, against `node -e 0` (the
 * runtime's own start) in the same run: alternating, medians. What `ward run` adds to a container
 * start is the difference. Peak RSS from GNU time's %M (ru_maxrss survives execve, so it is the
 * peak of Ward before it became /bin/true); CPU time (user+sys, %U %S) of the client process is
 * also reported, as it is less disturbed than wall time on a busy machine.
 *
 *   node bench/run/run.bench.ts [rounds]          (default 30; needs /usr/bin/time)
 *
 * Targets (issue 4): ≤ 150 ms added, ≤ 80 MiB peak RSS. test/client/run/modules.test.ts checks
 * that the path loads no server-only module.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { WardAdminClient } from '../../src/client/admin.ts';
import { WardHttpClient } from '../../src/client/http.ts';
import { loadIdentity } from '../../src/client/identity.ts';
import { admin, BIN, cleanEnv, freePort, initDeployment, startWardServer } from '../../test/client/deployment.ts';

const rounds = Number(process.argv[2] ?? 30);
const TIME = '/usr/bin/time';
if (!existsSync(TIME)) throw new Error('needs GNU time at /usr/bin/time (apt-get install time)');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

const dep = initDeployment();
const server = await startWardServer(dep, await freePort());
try {
  const identity = admin(dep, server.url).issue('bench-1', 'bench', 'prod', join(dep.root, 'bench-1'));
  const http = new WardHttpClient({ servers: [server.url], identity: loadIdentity(join(dep.dir, 'admin')) });
  const api = new WardAdminClient(http);
  for (let i = 0; i < 20; i++) {
    const value = Buffer.from(`value-${i}-${'x'.repeat(40)}`);
    await api.putSecret({ app: 'bench', env: 'prod', name: `SECRET_${String(i).padStart(2, '0')}` }, value);
  }
  http.close();

  const env = cleanEnv({ WARD_SERVER: server.url, WARD_IDENTITY: identity });
  const cases = {
    'node -e 0': [process.execPath, '-e', '0'],
    'ward run -- /bin/true': [process.execPath, BIN, 'run', '--', '/bin/true'],
  } as const;
  const results: Record<string, { ms: number[]; rssKiB: number[]; cpuMs: number[] }> = {};
  const once = (argv: readonly string[]) => {
    const t0 = performance.now();
    const r = spawnSync(TIME, ['-f', '%M %U %S', ...argv], { env, encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
    const [rss, user, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
    return { ms, rssKiB: rss!, cpuMs: (user! + sys!) * 1000 };
  };
  for (const argv of Object.values(cases)) for (let i = 0; i < 3; i++) once(argv); // warm the compile cache
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 ? Object.entries(cases).reverse() : Object.entries(cases);
    for (const [name, argv] of order) {
      const r = once(argv);
      const into = (results[name] ??= { ms: [], rssKiB: [], cpuMs: [] });
      into.ms.push(r.ms);
      into.rssKiB.push(r.rssKiB);
      into.cpuMs.push(r.cpuMs);
    }
  }
  console.log(`ward run bench: ${rounds} alternating rounds, 20 secrets, local ward server (node ${process.version})`);
  for (const [name, r] of Object.entries(results)) {
    console.log(`  ${name.padEnd(24)} median ${median(r.ms).toFixed(1)} ms  p90 ${pct(r.ms, 0.9).toFixed(1)} ms  CPU median ${median(r.cpuMs).toFixed(0)} ms  peak RSS median ${(median(r.rssKiB) / 1024).toFixed(1)} MiB, max ${(Math.max(...r.rssKiB) / 1024).toFixed(1)} MiB`);
  }
  const ward = results['ward run -- /bin/true']!;
  const base = results['node -e 0']!;
  const paired = ward.ms.map((m, i) => m - base.ms[i]!);
  console.log(`  added by ward run: median of paired differences ${median(paired).toFixed(1)} ms (difference of medians ${(median(ward.ms) - median(base.ms)).toFixed(1)} ms); target ≤ 150 ms, ≤ 80 MiB`);
} finally {
  await server.stop();
  dep.remove();
}
