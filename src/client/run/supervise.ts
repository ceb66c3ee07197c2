/**
 * `ward run --watch`: Ward stays as the app's parent instead of replacing itself.
 *
 * - The app is spawned with the prepared environment, sharing Ward's stdio.
 * - TERM, INT, HUP, QUIT, USR1 and USR2 sent to Ward are forwarded to the app (as tini does);
 *   Ward ends when the app ends, with the app's exit code, or 128+N when a signal N killed it.
 * - {@link Supervisor.changed} is called when secrets changed: with `hup` the app gets SIGHUP
 *   (files were already re-rendered); with `restart` it gets SIGTERM and is started again with
 *   the new environment once it has exited. Changes arriving within the debounce window are
 *   handled once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

export const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

export type OnChange = 'hup' | 'restart';

export interface SupervisorOptions {
  path: string;
  args: readonly string[];
  env: Record<string, string>;
  onChange: OnChange;
  debounceMs: number;
  log: (message: string) => void;
  /** Builds a fresh environment (and re-renders files) before a change is delivered. */
  refresh: () => Promise<Record<string, string>>;
}

/** The shell's convention for a child's end: its code, or 128 + the signal's number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? constants.signals[signal] : undefined;
  return n === undefined ? 1 : 128 + n;
}

export class Supervisor {
  private child: ChildProcess | undefined;
  private env: Record<string, string>;
  private stopping = false;
  private restarting = false;
  private timer: NodeJS.Timeout | undefined;
  private handling: Promise<void> = Promise.resolve();
  private readonly options: SupervisorOptions;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  private resolveExit!: (code: number) => void;
  /** Settles with the code Ward should exit with. */
  readonly exited: Promise<number>;

  constructor(options: SupervisorOptions) {
    this.options = options;
    this.env = options.env;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  /** Spawns the app and starts forwarding signals. Returns the app's PID. */
  start(): number {
    for (const sig of FORWARDED_SIGNALS) {
      const handler = () => {
        if (sig === 'SIGTERM' || sig === 'SIGINT' || sig === 'SIGQUIT') this.stopping = true;
        this.child?.kill(sig);
      };
      this.handlers.set(sig, handler);
      process.on(sig, handler);
    }
    return this.spawnChild();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Secrets changed on the server: deliver the change after the debounce window. */
  changed(): void {
    if (this.stopping) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.handling = this.handling.then(() => this.deliver()).catch((e: unknown) => {
        this.options.log(`could not apply the change: ${e instanceof Error ? e.message : String(e)}; the app keeps its current secrets`);
      });
    }, this.options.debounceMs);
  }

  private async deliver(): Promise<void> {
    if (this.stopping || !this.child) return;
    this.env = await this.options.refresh();
    if (this.stopping || !this.child) return;
    if (this.options.onChange === 'hup') {
      this.options.log('secrets changed: files re-rendered, sending SIGHUP to the app');
      this.child.kill('SIGHUP');
      return;
    }
    this.options.log('secrets changed: restarting the app');
    this.restarting = true;
    const old = this.child;
    const gone = new Promise<void>((resolve) => old.once('exit', () => resolve()));
    old.kill('SIGTERM');
    await gone;
    this.restarting = false;
    if (this.stopping) return this.finish(exitCodeOf(old.exitCode, old.signalCode));
    this.spawnChild();
  }

  private spawnChild(): number {
    const [argv0, ...rest] = this.options.args;
    const child = spawn(this.options.path, rest, { argv0, env: this.env, stdio: 'inherit' });
    this.child = child;
    child.on('error', (e) => {
      this.options.log(`cannot start the app: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
      this.finish(127);
    });
    child.on('exit', (code, signal) => {
      if (this.restarting && child === this.child) return;
      if (child !== this.child) return;
      this.finish(exitCodeOf(code, signal));
    });
    return child.pid ?? -1;
  }

  private finish(code: number): void {
    clearTimeout(this.timer);
    for (const [sig, handler] of this.handlers) process.off(sig, handler);
    this.handlers.clear();
    this.stopping = true;
    this.resolveExit(code);
  }
}
