// A process's memory from /proc: resident now (VmRSS) and the peak (VmHWM), which can be reset so a
// peak covers one phase only.
import { readFileSync, writeFileSync } from 'node:fs';

const MIB = 1024 * 1024;

/** A `kB` line of /proc/PID/status, in bytes; undefined once the process is gone. */
function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

export const rssMiB = (pid: number) => (statusBytes(pid, 'VmRSS') ?? Number.NaN) / MIB;
export const peakRssMiB = (pid: number) => (statusBytes(pid, 'VmHWM') ?? Number.NaN) / MIB;

/**
 * Starts a new peak: VmHWM drops to the current RSS (proc(5), clear_refs "5", Linux ≥ 4.0; needs
 * the right to write there, i.e. the same user or root). False when it could not.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
