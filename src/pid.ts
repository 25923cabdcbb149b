// Whether a process of this host runs: lock and claim files name their holder by pid.

/** Whether `pid` runs here (EPERM: it does, under another user). 0 and below name groups, never a process. */
export function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
