/** `ward config encrypt|decrypt FILE`: per-value encrypted TOML, YAML and JSON files (flags: env.ts). */
import type { Command } from 'commander';
import { registerValueFileCommand } from './env.ts';

export function register(program: Command): void {
  registerValueFileCommand(program, 'config', 'TOML/YAML/JSON', ['toml', 'yaml', 'json']);
}
