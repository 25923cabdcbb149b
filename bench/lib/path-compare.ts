// Side by side for TCP paths to one backend (direct, through one proxy, through another): the same
// client load on each, runs alternated so a change in machine load hits every path alike, medians
// compared; with the CPU each proxy and the backend used, as both share the server core.
import type { BenchConfig } from './config.js';
import { busyShare, coreTimes, cpuSeconds, processTimes } from './cpu-time.js';
import type { ServerAddress } from './dns-probe.js';
import type { BenchProcess } from './processes.js';
import { median, spread } from './stats.js';

export interface TcpPath {
  /** "direct", or the proxy's name. */
  label: string;
  /** Where the client connects. */
  address: ServerAddress;
  /** The proxy on the path; none when direct. */
  proxy?: BenchProcess;
  backend: BenchProcess;
}

/** One client run, as the client reports it. */
export interface Sample {
  /** The metric, in its unit (per second). */
  value: number;
  /** How long the client measured. */
  seconds: number;
  /** Further figures, e.g. latencies; each shown as its median. */
  details: Record<string, number>;
  /** Anything wrong in the run (errors, bad answers): printed as warnings. */
  problems: string[];
}

export interface PathRun extends Sample {
  /** NaN when there is no proxy. */
  proxyCpuSeconds: number;
  /** The part of it in user space (the rest is syscalls and the packet work they do). */
  proxyUserSeconds: number;
  backendCpuSeconds: number;
  /** How busy the server CPU (proxy + backend + their kernel work) and the client CPU were, 0..1. */
  serverCoreBusy: number;
  clientCoreBusy: number;
}

export interface PathSummary {
  label: string;
  runs: PathRun[];
  median: number;
  /** Median of the metric's units per CPU-second of the proxy: its efficiency, whatever else ran. */
  medianPerProxyCpu: number;
  medianProxyCpuShare: number;
  /** Median share of the proxy's CPU time spent in user space (0..1). */
  medianProxyUserShare: number;
  medianBackendCpuShare: number;
  medianServerCoreBusy: number;
  medianClientCoreBusy: number;
  medianDetails: Record<string, number>;
  /** Best run / worst run − 1. */
  spread: number;
}

export interface PathRatio {
  /** e.g. "meshdns / haproxy". */
  label: string;
  /** Of the medians: the headline. */
  value: number;
  /** Of the medians per proxy CPU-second; NaN when either path has no proxy. */
  perProxyCpu: number;
}

export interface MetricSpec {
  /** Short name, e.g. "upload". */
  metric: string;
  /** What is measured and how, one line. */
  what: string;
  /** e.g. "Gbit/s"; the per-proxy-CPU figure is in the same unit times seconds. */
  unit: string;
  measure(path: TcpPath, seconds: number): Promise<Sample>;
}

export interface MetricComparison {
  metric: string;
  what: string;
  unit: string;
  paths: PathSummary[];
  ratios: PathRatio[];
  warnings: string[];
}

export interface ComparePathsOptions {
  config: BenchConfig;
  /** Per measured run. */
  seconds: number;
  ratios: { subject: string; baseline: string }[];
  log: (line: string) => void;
}

/** A server core this far from its limit while the client's is saturated: the client set the pace. */
const CLIENT_BOUND = { serverBelow: 0.85, clientAbove: 0.95 } as const;
/** One path's runs further apart than this (best/worst − 1): the machine was busy. */
const NOISY_SPREAD = 0.15;

const pct = (share: number) => `${Math.round(share * 100)}%`;

async function measure(path: TcpPath, spec: MetricSpec, config: BenchConfig, seconds: number) {
  for (const p of [path.proxy, path.backend]) {
    if (p && !p.running) throw new Error(`${p.label} is no longer running:\n${p.stderr}`);
  }
  const proxyBefore = processTimes(path.proxy?.child.pid);
  const backendBefore = cpuSeconds(path.backend.child.pid);
  const [serverBefore, clientBefore] = [coreTimes(config.serverCpu), coreTimes(config.clientCpu)];
  const sample = await spec.measure(path, seconds);
  const proxyAfter = processTimes(path.proxy?.child.pid);
  return {
    ...sample,
    proxyCpuSeconds: proxyAfter.user + proxyAfter.system - proxyBefore.user - proxyBefore.system,
    proxyUserSeconds: proxyAfter.user - proxyBefore.user,
    backendCpuSeconds: cpuSeconds(path.backend.child.pid) - backendBefore,
    serverCoreBusy: busyShare(serverBefore, coreTimes(config.serverCpu)),
    clientCoreBusy: busyShare(clientBefore, coreTimes(config.clientCpu)),
  };
}

function summarise(label: string, runs: PathRun[]): PathSummary {
  const keys = Object.keys(runs[0]?.details ?? {});
  return {
    label,
    runs,
    median: median(runs.map((r) => r.value)),
    medianPerProxyCpu: median(runs.map((r) => (r.value * r.seconds) / r.proxyCpuSeconds)),
    medianProxyCpuShare: median(runs.map((r) => r.proxyCpuSeconds / r.seconds)),
    medianProxyUserShare: median(runs.map((r) => r.proxyUserSeconds / r.proxyCpuSeconds)),
    medianBackendCpuShare: median(runs.map((r) => r.backendCpuSeconds / r.seconds)),
    medianServerCoreBusy: median(runs.map((r) => r.serverCoreBusy)),
    medianClientCoreBusy: median(runs.map((r) => r.clientCoreBusy)),
    medianDetails: Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r.details[k]))])),
    spread: spread(runs.map((r) => r.value)),
  };
}

function summaryWarnings(s: PathSummary): string[] {
  const warnings: string[] = [];
  if (
    s.medianServerCoreBusy < CLIENT_BOUND.serverBelow &&
    s.medianClientCoreBusy > CLIENT_BOUND.clientAbove
  ) {
    warnings.push(
      `${s.label}: server CPU ${pct(s.medianServerCoreBusy)} busy while the client's was ` +
        `${pct(s.medianClientCoreBusy)}: the client was the limit, so this path is understated`,
    );
  }
  if (s.spread > NOISY_SPREAD)
    warnings.push(`${s.label}: runs differ by ${pct(s.spread)} (busy machine?); trust the ratio less`);
  return warnings;
}

export async function comparePaths(
  paths: TcpPath[],
  spec: MetricSpec,
  opts: ComparePathsOptions,
): Promise<MetricComparison> {
  const { config, log } = opts;
  if (config.warmupSeconds > 0) {
    for (const path of paths) {
      log(`  ${spec.metric}: warm-up ${path.label} (${config.warmupSeconds} s)`);
      await measure(path, spec, config, config.warmupSeconds);
    }
  }
  const runs = new Map<string, PathRun[]>(paths.map((p) => [p.label, []]));
  const warnings: string[] = [];
  for (let i = 1; i <= config.runs; i++) {
    for (const path of paths) {
      const r = await measure(path, spec, config, opts.seconds);
      const proxyCpu = path.proxy ? `, ${path.label} CPU ${r.proxyCpuSeconds.toFixed(2)} s` : '';
      log(
        `  ${spec.metric} run ${i}/${config.runs} ${path.label}: ${r.value.toFixed(2)} ${spec.unit}${proxyCpu}, ` +
          `backend CPU ${r.backendCpuSeconds.toFixed(2)} s`,
      );
      warnings.push(...r.problems.map((p) => `${spec.metric} ${path.label} run ${i}: ${p}`));
      runs.get(path.label)!.push(r);
    }
  }
  const summaries = paths.map((p) => summarise(p.label, runs.get(p.label)!));
  warnings.push(...summaries.flatMap(summaryWarnings).map((w) => `${spec.metric} ${w}`));
  const byLabel = new Map(summaries.map((s) => [s.label, s]));
  const ratios = opts.ratios.map(({ subject, baseline }): PathRatio => {
    const [a, b] = [byLabel.get(subject)!, byLabel.get(baseline)!];
    return {
      label: `${subject} / ${baseline}`,
      value: a.median / b.median,
      perProxyCpu: a.medianPerProxyCpu / b.medianPerProxyCpu,
    };
  });
  return { metric: spec.metric, what: spec.what, unit: spec.unit, paths: summaries, ratios, warnings };
}
