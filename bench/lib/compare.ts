// Side by side: the same dnsperf load against each server, runs alternated so that a change in
// machine load (other work, thermal limits) hits every contender alike; medians compared. Servers
// either keep running from run to run (warm), or are started afresh before each run (cold caches).
import type { DnsServer } from '../servers/server.js';
import type { BenchConfig } from './config.js';
import { busyShare, coreTimes, cpuSeconds } from './cpu-time.js';
import { type DnsperfResult, dnsperfLoad, dnsperfWarnings, runDnsperf } from './dnsperf.js';
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
  /** Started and checked by the scenario. */
  servers: DnsServer[];
  queryFile: string;
  config: BenchConfig;
  /** Ratios reported: each `subject`'s median qps over the `baseline`'s. */
  ratios: { subject: string; baseline: string }[];
  log: (line: string) => void;
  /** Each measured run sends the query file once (dnsperf -n 1) instead of looping it for BENCH_SECONDS. */
  onePass?: boolean;
  /** dnsperf -t of every run; default 1 s. */
  timeoutSeconds?: number;
  /**
   * Cold start: `servers` (fresh, asked nothing but the start-up probe) serve the first run; before
   * each later run a server is stopped and this starts it afresh. The warm-up then comes right before
   * every run, and all of them are stopped at the end.
   */
  restart?: (stopped: DnsServer) => Promise<DnsServer>;
  /** dnsperf -m: UDP (default) or TCP, each client a connection with its queries pipelined. */
  mode?: 'udp' | 'tcp';
  /** Replaces the default warm-up, a timed run of BENCH_WARMUP_SECONDS (none when 0). */
  warmUp?: (server: DnsServer) => Promise<void>;
  /** dnsperf -Q: every run offers this many queries a second (an equal load, see equalRate). */
  qps?: number;
}

/**
 * A server this far from its core's limit while dnsperf's core is saturated was held back by the
 * client (likely on 2 cores, where dnsperf has one core only and shares it with the kernel's work).
 */
const CLIENT_BOUND = { serverBelow: 0.85, clientAbove: 0.95 } as const;

const pct = (share: number) => `${Math.round(share * 100)}%`;

/** One contender's runs further apart than this (best/worst − 1): the machine was busy. */
const NOISY_SPREAD = 0.15;

/**
 * Of the slowest contender's median qps: an offered rate every contender answers in full. At 0.8,
 * dnsmasq kept up in one run of three on this drifting machine; a server that does not is warned of.
 */
const EQUAL_RATE_SHARE = 0.7;
/** At a fixed rate, a median below this share of it: the server did not keep up. */
const KEPT_UP = 0.97;

/**
 * The rate for comparing CPU per query at an equal load: a share of the slowest of `labels` in
 * `measured` (their saturating runs). At full speed on two cores dnsperf's core is often the limit, so a
 * fast server idles part of the time and its batches are smaller: its CPU per query reads high. At one
 * offered rate that all of them answer, each server does the same work in the same time.
 */
export function equalRate(measured: Comparison, labels: string[]): number {
  const slowest = Math.min(
    ...measured.contenders.filter((c) => labels.includes(c.label)).map((c) => c.medianQps),
  );
  return Math.max(1000, Math.round((slowest * EQUAL_RATE_SHARE) / 1000) * 1000);
}

export async function compareServers(group: ProcessGroup, opts: CompareOptions): Promise<Comparison> {
  const { config, log } = opts;
  const measure = async (server: DnsServer, length: number | 'once'): Promise<RunResult> => {
    if (!server.proc.running) throw new Error(`${server.label} is no longer running:\n${server.proc.stderr}`);
    const cpuBefore = cpuSeconds(server.proc.child.pid);
    const clientCoreBefore = coreTimes(config.clientCpu);
    const r = await runDnsperf(group, {
      server: server.address,
      queryFile: opts.queryFile,
      length,
      timeoutSeconds: opts.timeoutSeconds,
      mode: opts.mode,
      qps: opts.qps,
      ...dnsperfLoad(config),
    });
    const serverCpuSeconds = cpuSeconds(server.proc.child.pid) - cpuBefore;
    const clientCoreBusy = busyShare(clientCoreBefore, coreTimes(config.clientCpu));
    return { ...r, serverCpuSeconds, qpsPerServerCpu: r.completed / serverCpuSeconds, clientCoreBusy };
  };
  const warmUp =
    opts.warmUp ??
    (async (server: DnsServer) => {
      if (config.warmupSeconds === 0) return;
      log(`  warm-up ${server.label} (${config.warmupSeconds} s)`);
      await measure(server, config.warmupSeconds);
    });

  const servers = [...opts.servers];
  const runs = new Map<string, RunResult[]>(servers.map((s) => [s.label, []]));
  const warnings: string[] = [];
  try {
    if (!opts.restart) for (const server of servers) await warmUp(server);
    for (let i = 1; i <= config.runs; i++) {
      for (const [k, running] of servers.entries()) {
        if (opts.restart) {
          if (i > 1) {
            await running.proc.stop();
            servers[k] = await opts.restart(running);
          }
          await warmUp(servers[k]);
        }
        const server = servers[k];
        const r = await measure(server, opts.onePass ? 'once' : config.seconds);
        log(
          `  run ${i}/${config.runs} ${server.label}: ${Math.round(r.qps)} qps, avg ${r.avgLatencyMs.toFixed(3)} ms, ` +
            `server CPU ${r.serverCpuSeconds.toFixed(2)} s`,
        );
        warnings.push(...dnsperfWarnings(r).map((w) => `${server.label} run ${i}: ${w}`));
        runs.get(server.label)!.push(r);
      }
    }
  } finally {
    if (opts.restart) await Promise.all(servers.map((s) => s.proc.stop()));
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
    if (opts.qps !== undefined && c.medianQps < opts.qps * KEPT_UP) {
      warnings.push(
        `${c.label}: answered ${Math.round(c.medianQps)} of the ${opts.qps} queries/s offered: it did not keep ` +
          'up, so its CPU per query is at a lower load than the others',
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
