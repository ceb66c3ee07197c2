#!/usr/bin/env node
// Ward's executable. Plain JavaScript so it runs before any type stripping; the compile cache
// removes the ~35 ms that stripping the TypeScript sources would otherwise cost on every start.
import module from 'node:module';

module.enableCompileCache?.();
// `ward --help | head`: a reader that has gone away is not worth a stack trace. Commands that
// stream to stdout listen for its errors themselves (EPIPE is then their I/O error): defer to them.
process.stdout.on('error', (e) => {
  if (process.stdout.listenerCount('error') > 1) return;
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
