// Scenario "restart" (issue 14 item 3): dnsperf at a fixed rate through a restart of `meshdns serve`.
// The old process has every name cached; a new one starts on the same port (SO_REUSEPORT), the old one
// gets SIGTERM (it hands over and writes its snapshot) and exits. Reported per run: queries dnsperf lost
// (target 0) and the new process's cache hit rate in the first second after the old one exited, with the
// snapshot (the default) and without it (`--no-snapshot`, a cold restart), runs alternated.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeQueryFile } from '../fixtures/files.js';
import { scrapeSamples } from '../lib/admin-api.js';
import type { ServerAddress } from '../lib/dns-probe.js';
import { runDnsperf } from '../lib/dnsperf.js';
import { freeDnsPort, freeTcpPort } from '../lib/ports.js';
import type { BenchProcess } from '../lib/processes.js';
import { formatRows } from '../lib/report.js';
import { median } from '../lib/stats.js';
import { startMeshdns } from '../servers/meshdns.js';
import { startSyntheticUpstream } from '../servers/synthetic-upstream.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';

/** More names than the overlap's queries, so the new process cannot have seen most of them itself. */
const NAMES = 20_000;
const QPS = 2000;
/** Seconds both processes answer before the old one is told to stop, and seconds of load after. */
const OVERLAP_S = 2;
const AFTER_S = 3;
/** How long after the old process's exit the new one's cache counters are read again. */
const WINDOW_MS = 1000;
const HOSTS = { upstream: '127.0.5.61', meshdns: '127.0.5.62' };
const CONTENDERS = [
  { label: 'snapshot', flags: [] as string[] },
  { label: 'cold', flags: ['--no-snapshot'] },
] as const;

interface RunFigures {
  sent: number;
  lost: number;
  /** Cache hits / (hits + misses) of the new process in the first WINDOW_MS after the old one exited. */
  hitRate: number;
  /** How long the old process took from SIGTERM to its exit. */
  stopMs: number;
}

interface RestartResult extends ScenarioResult {
  contenders: { label: string; flags: string[]; runs: RunFigures[]; median: RunFigures }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function cacheCounts(admin: ServerAddress): Promise<{ hits: number; misses: number }> {
  const s = await scrapeSamples(admin, 5000);
  return {
    hits: s.get('meshdns_cache_hits_total') ?? Number.NaN,
    misses: s.get('meshdns_cache_misses_total') ?? Number.NaN,
  };
}

/** Waits until `proc` has logged `pattern` on stderr (the new process is bound before the old one stops). */
async function logged(proc: BenchProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pattern.test(proc.stderr)) {
    if (performance.now() > deadline || !proc.running)
      throw new Error(`${proc.label}: no ${pattern}:\n${proc.stderr}`);
    await sleep(20);
  }
}

async function oneRun(
  ctx: ScenarioContext,
  flags: readonly string[],
  upstream: ServerAddress,
  queryFile: string,
  manifestsDir: string,
): Promise<RunFigures> {
  const { group, config } = ctx;
  const listen = { host: HOSTS.meshdns, port: await freeDnsPort(HOSTS.meshdns) };
  const admin = { host: '127.0.0.1', port: await freeTcpPort('127.0.0.1') };
  const common = {
    manifestsDir,
    listen,
    upstreams: [upstream],
    searchDomains: ['x.invalid'],
    probeName: 'probe.restart.test',
    upstreamTimeoutMs: 2000,
    cpu: config.serverCpu,
  };
  const extra = ['--cache-size', String(2 * NAMES), '--log-level', 'info', ...flags];
  const old = await startMeshdns(group, { ...common, label: 'meshdns old', extraArgs: extra });
  // Every name asked once: the old process's cache holds them all.
  await runDnsperf(group, {
    server: listen,
    queryFile,
    length: 'once',
    clients: 8,
    threads: 1,
    outstanding: 100,
  });
  const fresh = await startMeshdns(group, {
    ...common,
    label: 'meshdns new',
    extraArgs: [...extra, '--admin-listen', `${admin.host}:${admin.port}`],
  });
  await logged(fresh.proc, /UDP answered/, 10_000);
  const load = runDnsperf(group, {
    server: listen,
    queryFile,
    length: OVERLAP_S + AFTER_S,
    qps: QPS,
    clients: 8,
    threads: 1,
    outstanding: 100,
    timeoutSeconds: 3,
    cpu: config.clientCpu,
  });
  await sleep(OVERLAP_S * 1000);
  const stopping = performance.now();
  await old.proc.stop();
  const stopMs = performance.now() - stopping;
  const before = await cacheCounts(admin);
  await sleep(WINDOW_MS);
  const after = await cacheCounts(admin);
  const perf = await load;
  await fresh.proc.stop();
  const hits = after.hits - before.hits;
  const misses = after.misses - before.misses;
  return { sent: perf.sent, lost: perf.lost, hitRate: hits / (hits + misses), stopMs };
}

async function run(ctx: ScenarioContext): Promise<RestartResult> {
  const { config, group, log, workDir } = ctx;
  const names = Array.from({ length: NAMES }, (_, i) => `h${i}.restart.test`);
  const queryFile = await writeQueryFile(path.join(workDir, 'restart-queries.txt'), names);
  const manifestsDir = path.join(workDir, 'no-manifests');
  await mkdir(manifestsDir, { recursive: true });
  const upstream = await startSyntheticUpstream(group, {
    listen: { host: HOSTS.upstream, port: await freeDnsPort(HOSTS.upstream) },
    delayMs: 1,
    ttl: 3600,
    cpu: config.clientCpu,
  });
  const runs = new Map<string, RunFigures[]>(CONTENDERS.map((c) => [c.label, []]));
  for (let i = 0; i < config.runs; i++) {
    for (const c of CONTENDERS) {
      const r = await oneRun(ctx, c.flags, upstream.address, queryFile, manifestsDir);
      log(
        `restart ${c.label} run ${i + 1}: ${r.lost} of ${r.sent} lost, hit rate ${(r.hitRate * 100).toFixed(1)}%`,
      );
      runs.get(c.label)!.push(r);
    }
  }
  await upstream.proc.stop();
  const contenders = CONTENDERS.map((c) => {
    const rs = runs.get(c.label)!;
    const m = (f: (r: RunFigures) => number) => median(rs.map(f));
    return {
      label: c.label,
      flags: [...c.flags],
      runs: rs,
      median: {
        sent: m((r) => r.sent),
        lost: m((r) => r.lost),
        hitRate: m((r) => r.hitRate),
        stopMs: m((r) => r.stopMs),
      },
    };
  });
  const warnings = contenders.flatMap((c) =>
    c.runs.some((r) => r.lost > 0)
      ? [
          `${c.label}: queries lost in ${c.runs.filter((r) => r.lost > 0).length} of ${c.runs.length} runs (target 0)`,
        ]
      : [],
  );
  return {
    scenario: 'restart',
    description: restartScenario.description,
    setup: {
      names: NAMES,
      qps: QPS,
      overlapSeconds: OVERLAP_S,
      afterSeconds: AFTER_S,
      windowMs: WINDOW_MS,
      runs: config.runs,
    },
    warnings,
    contenders,
  };
}

function format(result: RestartResult): string {
  const rows = [
    ['meshdns', 'lost (max of runs)', 'sent', 'hit rate, first second', 'old one stops in', 'flags'],
    ...result.contenders.map((c) => [
      c.label,
      `${Math.max(...c.runs.map((r) => r.lost))}`,
      String(Math.round(c.median.sent)),
      `${(c.median.hitRate * 100).toFixed(1)}%`,
      `${Math.round(c.median.stopMs)} ms`,
      c.flags.join(' '),
    ]),
  ];
  return [
    `${result.scenario}: ${result.description}`,
    `  ${NAMES} names at ${QPS} qps, the old process stopped after ${OVERLAP_S} s of both answering; medians of ${result.setup.runs} alternated runs`,
    ...formatRows(rows).map((l) => `  ${l}`),
    ...result.warnings.map((w) => `  warning: ${w}`),
  ].join('\n');
}

export const restartScenario: Scenario<RestartResult> = {
  name: 'restart',
  description:
    'dnsperf through a restart on one port: queries lost, and the cache hit rate in the first second after (issue 14 item 3)',
  tools: [{ bin: 'dnsperf', pkg: 'dnsperf' }],
  run,
  format,
};
