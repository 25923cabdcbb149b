// Running dnsperf and reading its statistics block.
import type { BenchConfig } from './config.js';
import type { ServerAddress } from './dns-probe.js';
import type { ProcessGroup } from './processes.js';

export interface DnsperfOptions {
  server: ServerAddress;
  queryFile: string;
  /**
   * Seconds of a timed run (-l, the query file looped), or 'once': one pass through the file,
   * each query sent once and in order (-n 1), e.g. to measure a cache filling up from cold.
   */
  length: number | 'once';
  clients: number;
  threads: number;
  outstanding: number;
  /** -t: seconds to wait for an answer before counting the query lost; default 1. */
  timeoutSeconds?: number;
  /** -Q: at most this many queries per second (a fixed offered rate); no limit when not given. */
  qps?: number;
  cpu?: number;
  /** -m: udp (default) or tcp (each client a connection with `outstanding` queries pipelined on it). */
  mode?: 'udp' | 'tcp';
}

export interface DnsperfResult {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  /** Response code → count, e.g. { NOERROR: 123456 }. */
  rcodes: Record<string, number>;
  avgLatencyMs: number;
  maxLatencyMs: number;
  runSeconds: number;
}

/** Seconds dnsperf waits for a late answer (-t); short, as everything is on loopback. */
const QUERY_TIMEOUT_S = 1;

/** The load of BENCH_CLIENTS/THREADS/OUTSTANDING, from the client CPU: all but what a run sends. */
export function dnsperfLoad(
  config: BenchConfig,
): Pick<DnsperfOptions, 'clients' | 'threads' | 'outstanding' | 'cpu'> {
  return {
    clients: config.clients,
    threads: config.threads,
    outstanding: config.outstanding,
    cpu: config.clientCpu,
  };
}

export function dnsperfArgs(opts: DnsperfOptions): string[] {
  return [
    ['-s', opts.server.host],
    ['-p', String(opts.server.port)],
    ['-d', opts.queryFile],
    opts.length === 'once' ? ['-n', '1'] : ['-l', String(opts.length)],
    ['-c', String(opts.clients)],
    ['-T', String(opts.threads)],
    ['-q', String(opts.outstanding)],
    ['-t', String(opts.timeoutSeconds ?? QUERY_TIMEOUT_S)],
    opts.qps === undefined ? [] : ['-Q', String(opts.qps)],
    opts.mode === 'tcp' ? ['-m', 'tcp'] : [],
  ].flat();
}

function field(text: string, label: string): RegExpExecArray {
  const m = new RegExp(`^\\s*${label}:\\s+(.*)$`, 'm').exec(text);
  if (!m) throw new Error(`dnsperf output has no "${label}" line:\n${text}`);
  return m;
}

const num = (text: string, label: string) => Number.parseFloat(field(text, label)[1]);

/** dnsperf prints seconds with 6 decimals: whole microseconds, kept exact in milliseconds. */
const secondsToMs = (text: string) => Math.round(Number(text) * 1e6) / 1e3;

/** Parses the "Statistics:" block dnsperf prints at the end of a run. */
export function parseDnsperf(text: string): DnsperfResult {
  const rcodes: Record<string, number> = {};
  // "Response codes:       NOERROR 1234 (99.00%), SERVFAIL 12 (1.00%)"; absent when nothing was answered.
  const codes = /^\s*Response codes:\s+(.*)$/m.exec(text)?.[1] ?? '';
  for (const m of codes.matchAll(/([A-Z0-9]+) (\d+) \(/g)) rcodes[m[1]] = Number(m[2]);
  const latency = /^\s*Average Latency \(s\):\s+([\d.]+) \(min [\d.]+, max ([\d.]+)\)/m.exec(text);
  return {
    qps: num(text, 'Queries per second'),
    sent: num(text, 'Queries sent'),
    completed: num(text, 'Queries completed'),
    lost: num(text, 'Queries lost'),
    rcodes,
    avgLatencyMs: latency ? secondsToMs(latency[1]) : Number.NaN,
    maxLatencyMs: latency ? secondsToMs(latency[2]) : Number.NaN,
    runSeconds: num(text, 'Run time \\(s\\)'),
  };
}

export async function runDnsperf(group: ProcessGroup, opts: DnsperfOptions): Promise<DnsperfResult> {
  const proc = group.spawn('dnsperf', 'dnsperf', dnsperfArgs(opts), { cpu: opts.cpu });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`dnsperf exited with code ${code}:\n${proc.stderr}\n${proc.stdout}`);
  return parseDnsperf(proc.stdout);
}

/** Problems worth a warning: lost queries, or answers other than NOERROR. */
export function dnsperfWarnings(r: DnsperfResult): string[] {
  const warnings: string[] = [];
  // A handful may be "lost" because they were in flight when the time limit hit.
  if (r.lost > Math.max(10, r.sent * 0.001)) warnings.push(`${r.lost} of ${r.sent} queries lost`);
  const other = Object.entries(r.rcodes).filter(([code, n]) => code !== 'NOERROR' && n > 0);
  if (other.length > 0)
    warnings.push(`non-NOERROR answers: ${other.map(([c, n]) => `${c} ${n}`).join(', ')}`);
  if ((r.rcodes.NOERROR ?? 0) === 0) warnings.push('no NOERROR answers at all');
  return warnings;
}
