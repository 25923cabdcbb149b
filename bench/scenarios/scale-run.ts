// One run of the scale scenario: `meshdns serve` on one generated folder, from spawn to the full
// table, then edits by rename, each timed until its answer shows; memory and stalls throughout.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  entryHost,
  entryOwnAddress,
  type Layout,
  type ScaleFixture,
  serviceAddress,
  serviceName,
} from '../fixtures/scale.js';
import { isReady, scrapeGauge, waitReady } from '../lib/admin-api.js';
import type { ScaleConfig } from '../lib/config.js';
import { busiestOtherThreadCpuSeconds, cpuSeconds } from '../lib/cpu-time.js';
import { type PolledReply, pollUntil, StallProbe, type StallReport } from '../lib/dns-poll.js';
import { checkAnswers, type ServerAddress } from '../lib/dns-probe.js';
import { peakRssMiB, resetPeakRss, rssMiB } from '../lib/proc-memory.js';
import type { BenchProcess, ProcessGroup } from '../lib/processes.js';
import { REPO_ROOT } from '../servers/meshdns.js';

/** How often the start-up and edit pollers ask (the brief's "every ~2 ms"). */
const POLL_MS = 2;
const READY_POLL_MS = 10;
/** After the full table: let the start-up's garbage be collected before reading RSS. */
const SETTLE_AFTER_LOAD_MS = 1000;
/** How long the idle figures watch: five rescans at the default interval. */
const IDLE_MS = 10_000;
/** After an edit's answer shows: the rest of the rebuild (state file, GC) still counts for that edit. */
const SETTLE_AFTER_EDIT_MS = 250;
/**
 * A scrape is never given up before the run's deadline: one abandoned by the client is still answered
 * later, and that answer's reset would take the stall it should have reported.
 */
const scrapeTimeout = (deadline: number) => Math.max(1000, Math.round(deadline - performance.now()));
/** prom-client's name for the longest monitorEventLoopDelay sample since the last scrape (seconds). */
export const LAG_MAX = 'nodejs_eventloop_lag_max_seconds';
/**
 * The agent's event-loop monitor ticks this often (`--metrics-eventloop-resolution`). A sample is the
 * time between two ticks, so a stall of S ms reads as S to S + 10 ms at the default of 10: at 1 ms the
 * reading less 1 ms is the stall to within a millisecond. It costs the idle figure about 2 % of a core.
 */
const EVENT_LOOP_RESOLUTION_MS = 1;

export interface RunTarget {
  dns: ServerAddress;
  admin: ServerAddress;
  upstream: ServerAddress;
  /** A name only the upstream has, and its address. */
  forwarded: { name: string; address: string };
  searchDomain: string;
  nodeFlags: string[];
}

export interface ScaleRun {
  size: number;
  layout: Layout;
  services: number;
  entries: number;
  files: number;
  generateMs: number;
  /** Times from spawn, in ms; null: not reached before the deadline. */
  firstAnswerMs: number | null;
  fullTableMs: number | null;
  /**
   * CPU seconds used by the time the full table answered: the controller's thread (which reads,
   * allocates and builds; the busiest thread but the main one) and the whole process. Less sensitive
   * than the times to a machine shared with others.
   */
  fullTableCpuControllerS: number | null;
  fullTableCpuS: number | null;
  readyMs: number | null;
  /** Longest silence of a forwarded name asked every 1 ms from the first answer to the full table. */
  loadSilence: StallReport | null;
  /** monitorEventLoopDelay max from the agent's start to the full table, less its 1 ms tick (ms). */
  loadStallMs: number | null;
  rssAfterLoadMiB: number | null;
  peakRssLoadMiB: number | null;
  /** VmHWM over the edits; since start when the peak could not be reset (`peakReset` false). */
  peakRssEditsMiB: number | null;
  /**
   * After the edits, IDLE_MS with nothing asked or changed: the process's CPU (rescans, and the 1 ms
   * event-loop monitor's ticks), % of one core.
   */
  idleCpuPercent: number | null;
  /** RSS at the end of that idle time. */
  idleRssMiB: number | null;
  peakReset: boolean;
  editsPlanned: number;
  /** One per edit made, ms from just before the write until the new address answered; null: missed. */
  editMs: (number | null)[];
  /** The same for each scrape during the edits (ms), null when one did not answer. */
  editStallMs: (number | null)[];
  /** The 1 ms probe of a table name over all edits. */
  editSilence: StallReport | null;
  /**
   * After the edits, stopped (SIGTERM: the snapshot is written, README "Restarts") and started again on
   * the same folder and state file: from that spawn, the first answer and the full table.
   */
  restartFirstAnswerMs: number | null;
  restartFullTableMs: number | null;
  /** From the restart to its full table: the event loop's longest stall (it loads the snapshot meanwhile). */
  restartStallMs: number | null;
  /** What stopped the run early, if anything: the deadline, an exit, a wrong answer. */
  stopped?: string;
  warnings: string[];
}

/** A scraped LAG_MAX as the longest stall, in ms: the sample less the monitor's tick. */
const stallMs = (s: number | undefined) =>
  s === undefined ? null : Math.max(0, s * 1000 - EVENT_LOOP_RESOLUTION_MS);

function serveArgs(fixtureDir: string, stateFile: string, t: RunTarget): string[] {
  return [
    ...t.nodeFlags,
    path.join(REPO_ROOT, 'bin', 'meshdns'),
    'serve',
    ...['--manifests', fixtureDir],
    ...['--dns-listen', `${t.dns.host}:${t.dns.port}`],
    ...['--upstream', `${t.upstream.host}:${t.upstream.port}`],
    // A pod's first search domain: the table gets its search-path shortcuts, as in a cluster.
    ...['--search', t.searchDomain],
    ...['--state-file', stateFile],
    ...['--admin-listen', `${t.admin.host}:${t.admin.port}`],
    ...['--metrics-eventloop-resolution', String(EVENT_LOOP_RESOLUTION_MS)],
    ...['--log-level', 'warn'],
    // e.g. `--workers 2`: the table then also reaches each answering worker (README "Workers").
    ...(process.env.BENCH_MESHDNS_ARGS?.split(/\s+/).filter(Boolean) ?? []),
  ];
}

/** The start-up: first forwarded answer, last names from the table, ready; all from spawn. */
async function load(
  run: ScaleRun,
  proc: BenchProcess,
  fixture: ScaleFixture,
  t: RunTarget,
  spawnedAt: number,
  deadline: number,
): Promise<boolean> {
  const alive = () => proc.running;
  const poll = (name: string, accept: (r: PolledReply) => boolean) =>
    pollUntil(t.dns, name, accept, { intervalMs: POLL_MS, deadline, alive });
  const last = fixture.lastNames();
  const since = (at: number | undefined) => (at === undefined ? null : at - spawnedAt);
  let silence: StallProbe | undefined;
  const first = poll(t.forwarded.name, (r) => r.rcode === 0 && r.addresses.includes(t.forwarded.address));
  const silenceDone = first.then((at) => {
    if (at === undefined) return;
    silence = new StallProbe(t.dns, t.forwarded.name);
    silence.start();
  });
  const table = Promise.all([
    poll(last.service.name, (r) => r.authoritative && r.addresses.includes(last.service.address)),
    poll(last.vipHost, (r) => r.authoritative && r.addresses.some((a) => a.startsWith('240.240.'))),
  ]).then(([a, b]) => {
    if (a === undefined || b === undefined) return undefined;
    const pid = proc.child.pid;
    run.fullTableCpuControllerS = busiestOtherThreadCpuSeconds(pid);
    run.fullTableCpuS = cpuSeconds(pid);
    return Math.max(a, b);
  });
  const ready = waitReady(t.admin, { intervalMs: READY_POLL_MS, deadline, alive });
  const [firstAt, tableAt, readyAt] = await Promise.all([first, table, ready]);
  await silenceDone;
  run.loadSilence = silence ? await silence.stop() : null;
  run.firstAnswerMs = since(firstAt);
  run.fullTableMs = since(tableAt);
  run.readyMs = since(readyAt);
  if (!proc.running) {
    run.stopped = `meshdns exited (code ${await proc.exited}) during start-up: ${proc.stderr.slice(-500)}`;
    return false;
  }
  if (tableAt === undefined || readyAt === undefined) {
    run.stopped = 'deadline passed during start-up';
    return false;
  }
  return true;
}

/** Memory and the start-up's stall, once the full table is in; then a sample of answers checked. */
async function afterLoad(run: ScaleRun, proc: BenchProcess, t: RunTarget, deadline: number): Promise<void> {
  await sleep(SETTLE_AFTER_LOAD_MS);
  const pid = proc.child.pid!;
  run.rssAfterLoadMiB = rssMiB(pid);
  run.peakRssLoadMiB = peakRssMiB(pid);
  run.peakReset = resetPeakRss(pid);
  run.loadStallMs = stallMs(await scrapeGauge(t.admin, LAG_MAX, scrapeTimeout(deadline)));
  if (run.loadStallMs === null)
    run.warnings.push(`${LAG_MAX} is not in /metrics: no stall figure from inside`);
  const problems = await checkAnswers(t.dns, [
    { name: serviceName(0), address: serviceAddress(0) },
    { name: entryHost(0), address: entryOwnAddress(0) },
  ]);
  run.warnings.push(...problems.map((p) => `wrong answer after load: ${p}`));
}

/** `cfg.edits` edits by rename, one at a time, each timed until the new address answers. */
async function edit(
  run: ScaleRun,
  proc: BenchProcess,
  fixture: ScaleFixture,
  t: RunTarget,
  cfg: ScaleConfig,
  deadline: number,
): Promise<void> {
  const probe = new StallProbe(t.dns, serviceName(0));
  probe.start();
  try {
    for (let k = 0; k < cfg.edits; k++) {
      if (performance.now() >= deadline) {
        run.stopped = `deadline passed after ${k} of ${cfg.edits} edits`;
        break;
      }
      if (!proc.running) {
        run.stopped = `meshdns exited (code ${await proc.exited}) after ${k} edits`;
        break;
      }
      // Each scrape reads and resets the maximum. After a long stall the recording of it can land on
      // either side of the scrape that waited for it, so every scrape but the first (which closes the
      // window of the checks after load) counts for the edits.
      const before = stallMs(await scrapeGauge(t.admin, LAG_MAX, scrapeTimeout(deadline)));
      if (k > 0) run.editStallMs.push(before);
      const writeAt = performance.now();
      const change = await fixture.editEntry(fixture.editTarget(k, cfg.edits), k);
      const at = await pollUntil(t.dns, change.host, (r) => r.addresses.includes(change.address), {
        intervalMs: POLL_MS,
        deadline: Math.min(deadline, writeAt + cfg.editDeadlineSeconds * 1000),
        alive: () => proc.running,
      });
      run.editMs.push(at === undefined ? null : at - writeAt);
      await sleep(SETTLE_AFTER_EDIT_MS);
      run.editStallMs.push(stallMs(await scrapeGauge(t.admin, LAG_MAX, scrapeTimeout(deadline))));
    }
  } finally {
    run.editSilence = await probe.stop();
  }
  run.peakRssEditsMiB = peakRssMiB(proc.child.pid!);
}

/**
 * What the process costs doing nothing: the folder's periodic rescan (every 2 s) is all that runs.
 * Before a rescan was made cheap, 50,000 files cost a fifth of a core and 20 MB of heap per rescan.
 */
async function idle(run: ScaleRun, proc: BenchProcess): Promise<void> {
  if (!proc.running) return;
  const pid = proc.child.pid!;
  const before = cpuSeconds(pid);
  await sleep(IDLE_MS);
  if (!proc.running) return;
  run.idleCpuPercent = ((cpuSeconds(pid) - before) * 100_000) / IDLE_MS;
  run.idleRssMiB = rssMiB(pid);
}

/** Spawns meshdns on the fixture and measures it; the process is stopped before returning. */
export async function measureRun(
  group: ProcessGroup,
  fixture: ScaleFixture,
  base: Pick<ScaleRun, 'size' | 'generateMs'>,
  t: RunTarget,
  cfg: ScaleConfig,
  workDir: string,
): Promise<ScaleRun> {
  const run: ScaleRun = {
    ...base,
    layout: fixture.layout,
    services: fixture.size.services,
    entries: fixture.size.entries,
    files: fixture.fileCount,
    firstAnswerMs: null,
    fullTableMs: null,
    fullTableCpuControllerS: null,
    fullTableCpuS: null,
    readyMs: null,
    loadSilence: null,
    loadStallMs: null,
    rssAfterLoadMiB: null,
    peakRssLoadMiB: null,
    peakRssEditsMiB: null,
    idleCpuPercent: null,
    idleRssMiB: null,
    peakReset: false,
    editsPlanned: cfg.edits,
    editMs: [],
    editStallMs: [],
    editSilence: null,
    restartFirstAnswerMs: null,
    restartFullTableMs: null,
    restartStallMs: null,
    warnings: [],
  };
  if (await isReady(t.admin)) throw new Error(`something already answers on ${t.admin.host}:${t.admin.port}`);
  const stateFile = path.join(workDir, `state-${fixture.layout}-${base.size}.json`);
  const spawnedAt = performance.now();
  const deadline = spawnedAt + cfg.deadlineSeconds * 1000;
  const start = () =>
    group.spawn('meshdns', process.execPath, serveArgs(fixture.dir, stateFile, t), { cwd: REPO_ROOT });
  const proc = start();
  let loaded = false;
  try {
    loaded = await load(run, proc, fixture, t, spawnedAt, deadline);
    if (loaded) {
      await afterLoad(run, proc, t, deadline);
      await edit(run, proc, fixture, t, cfg, deadline);
      await idle(run, proc);
    }
  } finally {
    await proc.stop();
  }
  if (loaded && run.stopped === undefined) await restart(run, start, fixture, t, deadline);
  return run;
}

/** The same `serve` started again after a stop: its snapshot answers until the folder is read again. */
async function restart(
  run: ScaleRun,
  start: () => BenchProcess,
  fixture: ScaleFixture,
  t: RunTarget,
  deadline: number,
): Promise<void> {
  const spawnedAt = performance.now();
  const again = start();
  // load() fills the start-up's figures: of a copy, whose two figures are the restart's.
  const second: ScaleRun = { ...run, warnings: [] };
  try {
    if (!(await load(second, again, fixture, t, spawnedAt, deadline)))
      run.warnings.push(`restart: ${second.stopped}`);
    run.restartFirstAnswerMs = second.firstAnswerMs;
    run.restartFullTableMs = second.fullTableMs;
    if (again.running) {
      run.restartStallMs = stallMs(await scrapeGauge(t.admin, LAG_MAX, scrapeTimeout(deadline)));
    }
  } finally {
    await again.stop();
  }
}
