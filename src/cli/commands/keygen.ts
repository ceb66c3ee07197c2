/** `ward keygen [-o FILE]`: a new age X25519 identity, in age-keygen's file format. */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('keygen')
    .description('generate an age X25519 identity (same file format as age-keygen)')
    .option('-o, --output <FILE>', 'write the identity to FILE (mode 0600, never overwritten) and print its recipient')
    .addHelpText('after', '\nWithout -o the identity file is printed to stdout. Its recipient (age1…) is what\nothers encrypt to: ward encrypt -r age1… FILE.')
    .action(async (opts: { output?: string }) => {
      const { runKeygen } = await import('../age.ts');
      runKeygen(opts);
    });
}
