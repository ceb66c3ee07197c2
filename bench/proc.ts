/**
 * Process CPU time from /proc, for the load generators (bench/server, bench/scale): steadier than
 * requests/s on a shared machine.
 */
import { readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat after the command name (which may hold spaces): state is [0]. */
export function procStat(pid: string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU time (ms) of a process (utime + stime, clock ticks of 10 ms), with `reaped` also that of its
 * children it has waited for (cutime + cstime); 0 when it is gone.
 */
export function cpuMs(pid: string, reaped = false): number {
  try {
    const f = procStat(pid);
    return (Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0)) * 10;
  } catch {
    return 0;
  }
}
