/** The list of commands, in the order `ward --help` shows them. */
import type { Command } from 'commander';

export type Register = (program: Command) => void;

export const commands: Register[] = [];
