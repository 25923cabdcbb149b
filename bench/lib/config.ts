// Benchmark settings: every default in one place, overridable by BENCH_* variables (STYLE.md §9).
import os from 'node:os';

export interface BenchConfig {
  /** dnsperf -l: seconds per measured run. */
  seconds: number;
  /** Measured runs per contender, alternated between contenders. */
  runs: number;
  /** One unmeasured run per contender first, so V8's JIT and the servers' caches are warm. */
  warmupSeconds: number;
  /** dnsperf -c: UDP sockets (source ports) it spreads queries over. */
  clients: number;
  /** dnsperf -T. */
  threads: number;
  /** dnsperf -q: queries in flight; enough to keep one server core busy, few enough not to overflow it. */
  outstanding: number;
  /** CPU the servers are pinned to and CPU dnsperf is pinned to; undefined: no pinning. */
  serverCpu?: number;
  clientCpu?: number;
  /** Where results are written (outside the source tree, so nothing is committed by accident). */
  resultsDir: string;
}

export const BENCH_DEFAULTS = {
  seconds: 10,
  runs: 3,
  warmupSeconds: 2,
  clients: 4,
  threads: 1,
  outstanding: 100,
} as const;

function intFromEnv(env: NodeJS.ProcessEnv, key: string, fallback: number, min: number): number {
  const text = env[key];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`${key}="${text}": expected a whole number >= ${min}`);
  return n;
}

export function configFromEnv(env: NodeJS.ProcessEnv, resultsDir: string): BenchConfig {
  // Two cores or more: servers on CPU 0, dnsperf on CPU 1, the same for every contender so the
  // comparison is fair and dnsperf never steals the server's core. BENCH_PIN=0 turns it off.
  const pin = env.BENCH_PIN !== '0' && os.availableParallelism() >= 2;
  return {
    seconds: intFromEnv(env, 'BENCH_SECONDS', BENCH_DEFAULTS.seconds, 1),
    runs: intFromEnv(env, 'BENCH_RUNS', BENCH_DEFAULTS.runs, 1),
    warmupSeconds: intFromEnv(env, 'BENCH_WARMUP_SECONDS', BENCH_DEFAULTS.warmupSeconds, 0),
    clients: intFromEnv(env, 'BENCH_CLIENTS', BENCH_DEFAULTS.clients, 1),
    threads: intFromEnv(env, 'BENCH_THREADS', BENCH_DEFAULTS.threads, 1),
    outstanding: intFromEnv(env, 'BENCH_OUTSTANDING', BENCH_DEFAULTS.outstanding, 1),
    serverCpu: pin ? 0 : undefined,
    clientCpu: pin ? 1 : undefined,
    resultsDir,
  };
}
