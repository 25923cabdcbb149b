// `npm run soak` (issue 11 item 6; not in CI): `meshdns serve` on a copy of examples/ plus soak.yaml,
// rewritten every 100 ms, its upstream stopped and started on a rhythm, under a bounded mixed UDP/TCP
// load checked answer by answer; VIPs compared every second; memory sampled every 2 s, split into V8's
// heaps and the rest (memory.ts). The run lasts the warm-up (until the cache is full and every V8 heap
// has settled, at most 20 min) plus SOAK_MINUTES (or --minutes; default 10; up to twice that until every
// heap has had two full collections) over which the growth of what is kept is fitted. Exit code 1 when a
// check fails.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scrapeGauge, scrapeSamples, waitReady } from '../../bench/lib/admin-api.js';
import { freeDnsPort, freeDnsPortOutsideEphemeral, freeTcpPort } from '../../bench/lib/ports.js';
import { ProcessGroup } from '../../bench/lib/processes.js';
import { DEFAULTS } from '../../src/defaults.js';
import { GcTrace } from './gc-trace.js';
import { KINDS, type LoadReport, SoakLoad } from './load.js';
import { ManifestRewriter, VIP_HOSTS } from './manifests.js';
import { heapsMeasurable, type MemoryVerdict, MemoryWatch, memoryVerdict, warmupEnd } from './memory.js';
import { FlappingUpstream } from './upstream-flap.js';
import { readVips, VipWatch } from './vip-watch.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HOST = '127.0.5.81';
const SETTINGS = {
  rewriteMs: 100,
  upstreamUpMs: 6000,
  upstreamDownMs: 3000,
  /** Cached names expire often, so they are refetched (and served stale in outages) all along. */
  upstreamTtl: 5,
  /** 3 queries every 10 ms: about 300/s, 20% over TCP (a fresh connection each), at most 200 in flight. */
  load: { perTick: 3, tickMs: 10, maxInFlight: 200, tcpShare: 0.2 },
  /**
   * The warm-up (memory.ts warmupEnd) lasts until the cache holds its most entries (3-5 minutes at this
   * load: the forwarded names are all new) and each V8 heap has had a full collection after (the worker's
   * first comes at about 10 minutes), at least the minimum, at most the maximum; SOAK_MINUTES follow it.
   */
  warmupMinMinutes: 1,
  warmupMaxMinutes: 20,
  /** Growth of kept memory after the warm-up (memory.ts) above this fails the soak. */
  maxSlopeMiBPerMin: 1,
} as const;

function minutesWanted(): number {
  const i = process.argv.indexOf('--minutes');
  const text = i >= 0 ? process.argv[i + 1] : (process.env.SOAK_MINUTES ?? '10');
  const n = Number(text);
  if (!(n > 0))
    throw new Error(`soak minutes "${text}": expected a positive number (SOAK_MINUTES or --minutes)`);
  return n;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<number> {
  const minutes = minutesWanted();
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'meshdns-soak-'));
  const group = new ProcessGroup();
  process.on('exit', () => group.killAllNow());
  process.on('SIGINT', () => void group.closeAll().finally(() => process.exit(130)));
  try {
    return await soak(minutes, workDir, group);
  } finally {
    await group.closeAll();
    await rm(workDir, { recursive: true, force: true });
  }
}

async function soak(minutes: number, workDir: string, group: ProcessGroup): Promise<number> {
  const manifests = path.join(workDir, 'manifests');
  await cp(path.join(ROOT, 'examples'), manifests, { recursive: true });
  const rewriter = new ManifestRewriter(manifests);
  rewriter.writeInitial();
  const upstream = new FlappingUpstream(
    group,
    { host: HOST, port: await freeDnsPortOutsideEphemeral(HOST) },
    SETTINGS.upstreamTtl,
  );
  await upstream.start();
  const dns = { host: HOST, port: await freeDnsPort(HOST) };
  const admin = { host: HOST, port: await freeTcpPort(HOST) };
  // --trace-gc only prints (to stdout) what V8's collector does; it changes nothing of what it does.
  const meshdns = group.spawn('meshdns', process.execPath, [
    '--trace-gc',
    path.join(ROOT, 'bin', 'meshdns'),
    ...['serve', '--manifests', manifests, '--dns-listen', `${dns.host}:${dns.port}`],
    ...[
      '--upstream',
      `${upstream.address.host}:${upstream.address.port}`,
      '--search',
      'default.svc.cluster.local',
    ],
    ...['--admin-listen', `${admin.host}:${admin.port}`, '--state-file', path.join(workDir, 'vips.json')],
    ...['--log-level', 'warn'],
  ]);
  const alive = () => meshdns.running;
  if ((await waitReady(admin, { intervalMs: 50, deadline: performance.now() + 30_000, alive })) === undefined)
    throw new Error(`meshdns serve was not ready within 30 s:\n${meshdns.stderr}`);
  const firstVips = await readVips(admin);
  const vipV4 = new Map<string, string>();
  for (const host of VIP_HOSTS) {
    const row = [...(firstVips ?? new Map<string, string>())].find(([key]) => key.endsWith(` ${host}`));
    if (!row) throw new Error(`no VIP for ${host} in /debug/vips after start`);
    vipV4.set(host, row[1].split(' ')[0]);
  }
  const pid = meshdns.child.pid!;
  log(
    `soak: meshdns serve (pid ${pid}) on ${dns.host}:${dns.port}: the warm-up (at most ` +
      `${SETTINGS.warmupMaxMinutes} min), then ${minutes} min measured; soak.yaml rewritten every ` +
      `${SETTINGS.rewriteMs} ms; upstream up ${SETTINGS.upstreamUpMs / 1000} s / down ${SETTINGS.upstreamDownMs / 1000} s`,
  );

  const started = performance.now();
  const minutesIn = () => (performance.now() - started) / 60_000;
  const trace = new GcTrace(minutesIn);
  meshdns.child.stdout?.on('data', (chunk: Buffer) => trace.feed(chunk.toString('latin1')));
  const memory = new MemoryWatch(pid, minutesIn, trace, {
    entries: () => scrapeGauge(admin, 'meshdns_cache_entries', 2000),
    max: DEFAULTS.cache.maxEntries,
  }).start();
  const vips = new VipWatch(admin, firstVips!);
  const load = new SoakLoad(dns, upstream, vipV4, SETTINGS.load);
  const metricsBefore = await scrapeSamples(admin, 2000);
  rewriter.start(SETTINGS.rewriteMs);
  upstream.flap(SETTINGS.upstreamUpMs, SETTINGS.upstreamDownMs);
  vips.start(1000);
  load.start();
  let crashed = false;
  let warmup: { minutes: number; until: string } | undefined;
  // Bounded: the warm-up ends by warmupMaxMinutes at the latest, the run `minutes` after it, or up to
  // twice that while a heap has had too few full collections to be judged on what it keeps.
  const measuring = (w: { minutes: number }) =>
    minutesIn() < w.minutes + minutes ||
    (minutesIn() < w.minutes + 2 * minutes && !heapsMeasurable(trace, w.minutes));
  for (let nextLog = 1; warmup === undefined || measuring(warmup); ) {
    await sleep(5000);
    if (!meshdns.running) {
      crashed = true;
      break;
    }
    warmup ??= warmupOver(memory, trace, minutesIn(), minutes);
    if (minutesIn() < nextLog) continue;
    nextLog++;
    const s = memory.samples.at(-1);
    const heaps = Object.values(s?.heapMiB ?? {}).map((h) => h.toFixed(1));
    log(
      `  ${minutesIn().toFixed(1)} min: RSS ${s?.rssMiB.toFixed(1)} MiB, outside V8's heaps ` +
        `${s?.nativeMiB.toFixed(1)}, V8 heaps committed ${heaps.join(' + ')}; ` +
        `cache ${memory.cacheFullAt === undefined ? 'filling' : 'full'}, ${rewriter.generation} rewrites, ` +
        `${upstream.outages.length} outages`,
    );
  }
  const report = await load.stop();
  rewriter.stop();
  await vips.stop();
  await upstream.stop();
  memory.stop();
  const metricsAfter = await scrapeSamples(admin, 2000);
  crashed ||= !meshdns.running;
  const stderr = meshdns.stderr;
  await meshdns.stop();

  const elapsedMin = minutesIn();
  const mem = memoryVerdict(
    memory.samples,
    trace,
    warmup ?? { minutes: elapsedMin, until: 'no end (crashed)' },
  );
  const metric = (k: string) => (metricsAfter.get(k) ?? 0) - (metricsBefore.get(k) ?? 0);
  const summary = {
    minutes: Number(elapsedMin.toFixed(2)),
    rewrites: rewriter.writes,
    outages: upstream.outages.length,
    load: report,
    vips: {
      hosts: vips.first.size,
      polls: vips.polls,
      unanswered: vips.unanswered,
      changes: vips.changes,
      vanished: vips.vanished,
    },
    memory: rounded(mem),
    meshdns: {
      crashed,
      configReloads: metric('meshdns_config_reloads_total'),
      staleAnswers: metric('meshdns_cache_stale_answers_total'),
    },
  };
  const failures = checks(report, summary.vips, mem, crashed);
  if (trace.isolates.size === 0)
    failures.push(`no V8 GC trace read from meshdns' stdout (${trace.unknown} lines not understood)`);
  if (upstream.error) failures.push(`the upstream could not be restarted: ${upstream.error.split('\n')[0]}`);
  process.stdout.write(`${formatSummary(summary, failures)}\n`);
  process.stdout.write(`${JSON.stringify({ ...summary, failures })}\n`);
  if (crashed) log(`meshdns stderr:\n${stderr}`);
  return failures.length === 0 ? 0 : 1;
}

/** The warm-up's end once it is over (memory.ts warmupEnd), or at its bound; undefined while it goes on. */
function warmupOver(
  memory: MemoryWatch,
  trace: GcTrace,
  now: number,
  measured: number,
): { minutes: number; until: string } | undefined {
  const end = warmupEnd(memory.cacheFullAt, trace, SETTINGS.warmupMinMinutes);
  let warmup: { minutes: number; until: string } | undefined;
  if (end !== undefined)
    warmup = { minutes: end, until: 'the cache was full and every V8 heap had had a full collection since' };
  else if (now >= SETTINGS.warmupMaxMinutes)
    warmup = {
      minutes: now,
      until: `its bound of ${SETTINGS.warmupMaxMinutes} min (cache ${memory.cacheFullAt === undefined ? 'not ' : ''}full)`,
    };
  if (warmup)
    log(`  warm-up over at ${warmup.minutes.toFixed(1)} min: ${warmup.until}; measuring ${measured} min`);
  return warmup;
}

function checks(
  load: LoadReport,
  vips: { changes: string[]; vanished: string[] },
  mem: MemoryVerdict,
  crashed: boolean,
): string[] {
  const f: string[] = [];
  if (crashed) f.push('meshdns exited during the soak');
  for (const k of KINDS) {
    const c = load.byKind[k];
    if (c.errors > 0) f.push(`${k}: ${c.errors} error replies (other than SERVFAIL in an outage)`);
    if (c.wrong > 0) f.push(`${k}: ${c.wrong} wrong answers`);
    if (c.unanswered > 0) f.push(`${k}: ${c.unanswered} unanswered`);
  }
  if (vips.changes.length > 0) f.push(`${vips.changes.length} VIP changes, e.g. ${vips.changes[0]}`);
  if (vips.vanished.length > 0)
    f.push(`${vips.vanished.length} VIPs missing from a poll, e.g. ${vips.vanished[0]}`);
  if (!(mem.keptSlopeMiBPerMin <= SETTINGS.maxSlopeMiBPerMin))
    f.push(
      `kept memory grows ${mem.keptSlopeMiBPerMin.toFixed(2)} MiB/min after warm-up (limit ` +
        `${SETTINGS.maxSlopeMiBPerMin}; RSS outside V8's heaps ${mem.nativeSlopeMiBPerMin.toFixed(2)}, heaps ` +
        `${mem.heaps.map((h) => `${h.slopeMiBPerMin.toFixed(2)} ${h.measured}`).join(', ')})`,
    );
  return f;
}

/** Figures to 3 decimals, for a summary a person reads. */
function rounded<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (_, v) => (typeof v === 'number' ? Number(v.toFixed(3)) : v)));
}

function formatSummary(s: Record<string, unknown> & { load: LoadReport }, failures: string[]): string {
  const lines = [`soak summary (${JSON.stringify(s.minutes)} min)`];
  lines.push('  kind        asked       ok  SERVFAIL-outage  ok-in-outage  errors  wrong  unanswered');
  for (const k of KINDS) {
    const c = s.load.byKind[k];
    const cols = [c.asked, c.ok, c.servfailInOutage, c.okInOutage, c.errors, c.wrong, c.unanswered];
    const widths = [9, 9, 17, 14, 8, 7, 12];
    lines.push(`  ${k.padEnd(10)}${cols.map((n, i) => String(n).padStart(widths[i])).join('')}`);
  }
  lines.push(`  flip values answered: ${JSON.stringify(s.load.byKind.flip.values)}`);
  lines.push(
    `  protocols: ${JSON.stringify(s.load.byProtocol)}, ticks skipped at the in-flight bound: ${s.load.skipped}`,
  );
  for (const key of ['rewrites', 'outages', 'vips', 'memory', 'meshdns'])
    lines.push(`  ${key}: ${JSON.stringify(s[key])}`);
  if (s.load.examples.length > 0) lines.push('  first problems:', ...s.load.examples.map((e) => `    ${e}`));
  lines.push(failures.length === 0 ? '  PASS' : `  FAIL:\n${failures.map((x) => `    ${x}`).join('\n')}`);
  return lines.join('\n');
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`soak failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
