// CPU time a process has used (all its threads), from /proc: with dnsperf near its own limit on a
// small machine, answers per CPU-second of the server compare servers better than qps alone.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface ProcessTimes {
  user: number;
  system: number;
}

/** User and system CPU seconds of `pid` and its reaped children so far; NaN where /proc is not available. */
export function processTimes(pid: number | undefined): ProcessTimes {
  if (pid === undefined) return { user: Number.NaN, system: Number.NaN };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // proc(5): fields after the ")" that closes the command name; utime and stime are fields 14 and 15,
    // cutime and cstime (children waited for) 16 and 17: dnsmasq forks a child per TCP connection.
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return {
      user: (fields[11] + fields[13]) / clockTicks(),
      system: (fields[12] + fields[14]) / clockTicks(),
    };
  } catch {
    return { user: Number.NaN, system: Number.NaN };
  }
}

/**
 * User + system CPU seconds of one thread (`tid`, a task of `pid`) so far; a process's main thread has
 * the process's own id. NaN where /proc is not available.
 */
export function threadCpuSeconds(pid: number | undefined, tid: number | undefined): number {
  if (pid === undefined || tid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return (fields[11] + fields[12]) / clockTicks();
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU seconds of the busiest thread of `pid` other than its main thread: in meshdns `serve`, the
 * controller's worker thread (V8's helper threads use far less). NaN where /proc is not available.
 */
export function busiestOtherThreadCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    let most = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      if (Number(tid) !== pid) most = Math.max(most, threadCpuSeconds(pid, Number(tid)) || 0);
    }
    return most;
  } catch {
    return Number.NaN;
  }
}

/** User + system CPU seconds of `pid` so far; NaN where /proc is not available. */
export function cpuSeconds(pid: number | undefined): number {
  const t = processTimes(pid);
  return t.user + t.system;
}

export interface CoreTimes {
  busy: number;
  total: number;
}

/** Busy and total seconds of one CPU since boot, from /proc/stat (all processes and the kernel). */
export function coreTimes(cpu: number | undefined): CoreTimes {
  if (cpu === undefined) return { busy: Number.NaN, total: Number.NaN };
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`cpu${cpu} `));
    // proc(5): user nice system idle iowait irq softirq steal …; idle and iowait are the not-busy ones.
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line!
      .trim()
      .split(/\s+/)
      .slice(1, 9)
      .map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy: busy / clockTicks(), total: (busy + idle + iowait) / clockTicks() };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/** Share of the time between two readings that the CPU was busy (0..1). */
export function busyShare(before: CoreTimes, after: CoreTimes): number {
  return (after.busy - before.busy) / (after.total - before.total);
}
