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

/** The `scale` scenario's settings (BENCH_SCALE_*): which folders, how many edits, how long at most. */
export interface ScaleConfig {
  /** Folder sizes by name, see scenarios/scale.ts (10000, 50000, 100000). */
  sizes: number[];
  layouts: string[];
  edits: number;
  /** A size and layout that has not finished by then reports "> deadline" for what is left. */
  deadlineSeconds: number;
  /** One edit not answered by then counts as missed, and the next edit starts. */
  editDeadlineSeconds: number;
}

export const SCALE_DEFAULTS = {
  // 100,000 on request: today it needs far more than the ~10 minutes the default run takes.
  sizes: [10_000, 50_000],
  layouts: ['100-files', 'per-object'],
  edits: 30,
  deadlineSeconds: 300,
  editDeadlineSeconds: 60,
} as const;

function listFromEnv(env: NodeJS.ProcessEnv, key: string, fallback: readonly string[]): string[] {
  const text = env[key];
  if (text === undefined || text.trim() === '') return [...fallback];
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function scaleConfigFromEnv(env: NodeJS.ProcessEnv): ScaleConfig {
  const sizes = listFromEnv(env, 'BENCH_SCALE_SIZES', SCALE_DEFAULTS.sizes.map(String)).map((s) => {
    const n = Number(s.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 2)
      throw new Error(`BENCH_SCALE_SIZES: "${s}" is not a whole number >= 2`);
    return n;
  });
  return {
    sizes,
    layouts: listFromEnv(env, 'BENCH_SCALE_LAYOUTS', SCALE_DEFAULTS.layouts),
    edits: intFromEnv(env, 'BENCH_SCALE_EDITS', SCALE_DEFAULTS.edits, 1),
    deadlineSeconds: intFromEnv(env, 'BENCH_SCALE_DEADLINE_SECONDS', SCALE_DEFAULTS.deadlineSeconds, 1),
    editDeadlineSeconds: intFromEnv(
      env,
      'BENCH_SCALE_EDIT_DEADLINE_SECONDS',
      SCALE_DEFAULTS.editDeadlineSeconds,
      1,
    ),
  };
}

/** The `controlplane` scenario's settings (BENCH_CP_*): the mesh, the agents, the change loop. */
export interface ControlPlaneConfig {
  entries: number;
  services: number;
  namespaces: number;
  /** Raw ADS streams, all from one launcher process. */
  agents: number;
  changes: number;
  /** Between the last affected agent having a change (or its deadline) and the next change. */
  spacingMs: number;
  /** `kube` (the Kubernetes API test server), `manifests` (a folder), or `auto`: kube when it works. */
  source: 'auto' | 'kube' | 'manifests';
  /** Controller start to every agent's first table, at most. */
  startDeadlineSeconds: number;
  /** One change not at every affected agent by then counts as missed. */
  changeDeadlineSeconds: number;
}

export const CONTROLPLANE_DEFAULTS = {
  entries: 10_000,
  services: 5_000,
  namespaces: 10,
  agents: 200,
  changes: 30,
  spacingMs: 300,
  source: 'auto',
  startDeadlineSeconds: 120,
  changeDeadlineSeconds: 30,
} as const;

export function controlPlaneConfigFromEnv(env: NodeJS.ProcessEnv): ControlPlaneConfig {
  const d = CONTROLPLANE_DEFAULTS;
  const source = env.BENCH_CP_SOURCE || d.source;
  if (source !== 'auto' && source !== 'kube' && source !== 'manifests')
    throw new Error(`BENCH_CP_SOURCE="${source}": expected auto, kube or manifests`);
  return {
    entries: intFromEnv(env, 'BENCH_CP_ENTRIES', d.entries, 0),
    services: intFromEnv(env, 'BENCH_CP_SERVICES', d.services, 0),
    namespaces: intFromEnv(env, 'BENCH_CP_NAMESPACES', d.namespaces, 1),
    agents: intFromEnv(env, 'BENCH_CP_AGENTS', d.agents, 1),
    changes: intFromEnv(env, 'BENCH_CP_CHANGES', d.changes, 1),
    spacingMs: intFromEnv(env, 'BENCH_CP_SPACING_MS', d.spacingMs, 0),
    source,
    startDeadlineSeconds: intFromEnv(env, 'BENCH_CP_START_DEADLINE_SECONDS', d.startDeadlineSeconds, 1),
    changeDeadlineSeconds: intFromEnv(env, 'BENCH_CP_CHANGE_DEADLINE_SECONDS', d.changeDeadlineSeconds, 1),
  };
}

/** The `flood` scenario's settings (BENCH_FLOOD_*): how long, how hard, how many. */
export interface FloodConfig {
  /** The UDP flood's length (dnsperf -l), and the table client's beside it. */
  seconds: number;
  /** The table client alone first, for the idle rate the flood's is compared with. */
  idleSeconds: number;
  /** Offered rate of the table client (dnsperf -Q), idle and under flood. */
  tableQps: number;
  /** Distinct random names in the flood's query file. */
  names: number;
  /** How long the synthetic upstream waits before answering each query. */
  upstreamDelayMs: number;
  /** TCP connections the holder opens and keeps. */
  tcpConnections: number;
  /** How long the holder keeps them, good queries asked all along. */
  tcpSeconds: number;
}

export const FLOOD_DEFAULTS = {
  seconds: 60,
  idleSeconds: 15,
  tableQps: 2000,
  names: 1_000_000,
  upstreamDelayMs: 200,
  tcpConnections: 10_000,
  tcpSeconds: 30,
} as const;

export function floodConfigFromEnv(env: NodeJS.ProcessEnv): FloodConfig {
  const d = FLOOD_DEFAULTS;
  return {
    seconds: intFromEnv(env, 'BENCH_FLOOD_SECONDS', d.seconds, 1),
    idleSeconds: intFromEnv(env, 'BENCH_FLOOD_IDLE_SECONDS', d.idleSeconds, 1),
    tableQps: intFromEnv(env, 'BENCH_FLOOD_TABLE_QPS', d.tableQps, 1),
    names: intFromEnv(env, 'BENCH_FLOOD_NAMES', d.names, 1),
    upstreamDelayMs: intFromEnv(env, 'BENCH_FLOOD_UPSTREAM_DELAY_MS', d.upstreamDelayMs, 0),
    tcpConnections: intFromEnv(env, 'BENCH_FLOOD_TCP_CONNECTIONS', d.tcpConnections, 1),
    tcpSeconds: intFromEnv(env, 'BENCH_FLOOD_TCP_SECONDS', d.tcpSeconds, 1),
  };
}
