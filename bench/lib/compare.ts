// Side by side: the same dnsperf load against each server, runs alternated so that a change in
// machine load (other work, thermal limits) hits every contender alike; medians compared.
import type { DnsServer } from '../servers/server.js';
import type { BenchConfig } from './config.js';
import { busyShare, coreTimes, cpuSeconds } from './cpu-time.js';
import { type DnsperfResult, dnsperfWarnings, runDnsperf } from './dnsperf.js';
import type { ProcessGroup } from './processes.js';
import { median, spread } from './stats.js';

export interface RunResult extends DnsperfResult {
  /**
   * CPU the server used during the run (user + system, all threads). The kernel's packet work in
   * softirq is charged to no process, so a saturated server shows well under 100%.
   */
  serverCpuSeconds: number;
  /** Answers per CPU-second of the server: its efficiency, whatever else ran on the machine. */
  qpsPerServerCpu: number;
  /** How busy dnsperf's CPU was (0..1, all processes); NaN without pinning. */
  clientCoreBusy: number;
}

export interface ContenderResult {
  label: string;
  version: string;
  runs: RunResult[];
  medianQps: number;
  medianQpsPerServerCpu: number;
  /** Median share of one core the server used while measured (1 = a whole core). */
  medianServerCpuShare: number;
  medianClientCoreBusy: number;
  medianAvgLatencyMs: number;
  /** Best run / worst run − 1. */
  spread: number;
}

export interface Ratio {
  /** e.g. "meshdns / dnsmasq". */
  label: string;
  /** Of median qps: the headline figure. */
  value: number;
  /** Of median answers per server CPU-second. */
  perServerCpu: number;
}

export interface Comparison {
  contenders: ContenderResult[];
  ratios: Ratio[];
  warnings: string[];
}

export interface CompareOptions {
  servers: DnsServer[];
  queryFile: string;
  config: BenchConfig;
  /** Ratios reported: each `subject`'s median qps over the `baseline`'s. */
  ratios: { subject: string; baseline: string }[];
  log: (line: string) => void;
}

/**
 * A server this far from its core's limit while dnsperf's core is saturated was held back by the
 * client (likely on 2 cores, where dnsperf has one core only and shares it with the kernel's work).
 */
const CLIENT_BOUND = { serverBelow: 0.85, clientAbove: 0.95 } as const;

const pct = (share: number) => `${Math.round(share * 100)}%`;

/** One contender's runs further apart than this (best/worst − 1): the machine was busy. */
const NOISY_SPREAD = 0.15;

export async function compareServers(group: ProcessGroup, opts: CompareOptions): Promise<Comparison> {
  const { config, log } = opts;
  const measure = async (server: DnsServer, seconds: number): Promise<RunResult> => {
    if (!server.proc.running) throw new Error(`${server.label} is no longer running:\n${server.proc.stderr}`);
    const cpuBefore = cpuSeconds(server.proc.child.pid);
    const clientCoreBefore = coreTimes(config.clientCpu);
    const r = await runDnsperf(group, {
      server: server.address,
      queryFile: opts.queryFile,
      seconds,
      clients: config.clients,
      threads: config.threads,
      outstanding: config.outstanding,
      cpu: config.clientCpu,
    });
    const serverCpuSeconds = cpuSeconds(server.proc.child.pid) - cpuBefore;
    const clientCoreBusy = busyShare(clientCoreBefore, coreTimes(config.clientCpu));
    return { ...r, serverCpuSeconds, qpsPerServerCpu: r.completed / serverCpuSeconds, clientCoreBusy };
  };

  if (config.warmupSeconds > 0) {
    for (const server of opts.servers) {
      log(`  warm-up ${server.label} (${config.warmupSeconds} s)`);
      await measure(server, config.warmupSeconds);
    }
  }
  const runs = new Map<string, RunResult[]>(opts.servers.map((s) => [s.label, []]));
  const warnings: string[] = [];
  for (let i = 1; i <= config.runs; i++) {
    for (const server of opts.servers) {
      const r = await measure(server, config.seconds);
      log(
        `  run ${i}/${config.runs} ${server.label}: ${Math.round(r.qps)} qps, avg ${r.avgLatencyMs.toFixed(3)} ms, ` +
          `server CPU ${r.serverCpuSeconds.toFixed(2)} s`,
      );
      warnings.push(...dnsperfWarnings(r).map((w) => `${server.label} run ${i}: ${w}`));
      runs.get(server.label)!.push(r);
    }
  }

  const contenders = opts.servers.map((s): ContenderResult => {
    const list = runs.get(s.label)!;
    const qps = list.map((r) => r.qps);
    return {
      label: s.label,
      version: s.version,
      runs: list,
      medianQps: median(qps),
      medianQpsPerServerCpu: median(list.map((r) => r.qpsPerServerCpu)),
      medianServerCpuShare: median(list.map((r) => r.serverCpuSeconds / r.runSeconds)),
      medianClientCoreBusy: median(list.map((r) => r.clientCoreBusy)),
      medianAvgLatencyMs: median(list.map((r) => r.avgLatencyMs)),
      spread: spread(qps),
    };
  });
  for (const c of contenders) {
    if (
      c.medianServerCpuShare < CLIENT_BOUND.serverBelow &&
      c.medianClientCoreBusy > CLIENT_BOUND.clientAbove
    ) {
      warnings.push(
        `${c.label}: used ${pct(c.medianServerCpuShare)} of its CPU while dnsperf's was ${pct(c.medianClientCoreBusy)} ` +
          'busy: the client was the limit, so its qps is understated; compare qps/server-CPU',
      );
    }
    if (c.spread > NOISY_SPREAD) {
      warnings.push(
        `${c.label}: runs differ by ${(c.spread * 100).toFixed(0)}% (busy machine?); trust the ratio less`,
      );
    }
  }
  const byLabel = new Map(contenders.map((c) => [c.label, c]));
  const ratios = opts.ratios.map(({ subject, baseline }): Ratio => {
    const [a, b] = [byLabel.get(subject)!, byLabel.get(baseline)!];
    return {
      label: `${subject} / ${baseline}`,
      value: a.medianQps / b.medianQps,
      perServerCpu: a.medianQpsPerServerCpu / b.medianQpsPerServerCpu,
    };
  });
  return { contenders, ratios, warnings };
}
