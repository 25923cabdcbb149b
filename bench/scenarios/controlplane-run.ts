// One run of the controlplane scenario: a fresh controller on the mesh, the raw agents and one real
// agent, the time to every first table, then the change loop. Every wait is bounded.
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  type ChangeTarget,
  type ControlPlaneSize,
  changeAddress,
  changeTargets,
} from '../fixtures/controlplane.js';
import { AdsRecords, agentNamespace, wallMs } from '../lib/ads-records.js';
import type { ControlPlaneConfig } from '../lib/config.js';
import { cpuSeconds } from '../lib/cpu-time.js';
import { pollUntil } from '../lib/dns-poll.js';
import type { ServerAddress } from '../lib/dns-probe.js';
import { freeDnsPort, freeTcpPort } from '../lib/ports.js';
import { peakRssMiB, rssMiB } from '../lib/proc-memory.js';
import type { ProcessGroup } from '../lib/processes.js';
import {
  type ControllerSource,
  type LoggedProcess,
  startAgents,
  startController,
  startRealAgent,
} from '../servers/control-plane.js';

const XDS_HOST = '127.0.0.1';
const REAL_AGENT_DNS = '127.0.0.71';
/** How often the records file and the controller's state are looked at while waiting. */
const POLL_MS = 5;
/** The real agent is asked this often for the changed name. */
const DNS_POLL_MS = 2;
/** RSS is read this long after the last agent's first table, once the start-up garbage can go. */
const SETTLE_MS = 1000;

export interface ChangeFigures {
  scope: ChangeTarget['scope'];
  /** Agents that must get the change. */
  affected: number;
  /** Write to the last affected agent having the new table; null: not all had it by the deadline. */
  lastMs: number | null;
  /** Each affected agent's write-to-table time (those that got it). */
  agentMs: number[];
  /** Name-table pushes to agents that may not see the change (should be 0). */
  pushesToOthers: number;
  /** VIP-route pushes to any agent in the change's window. */
  routePushes: number;
  /** Affected agents of one namespace that ended on different versions (should be 0). */
  versionSplits: number;
  /** Write to the real agent answering the new address; null when it did not within the deadline. */
  realAgentMs: number | null;
  /** The controller's own "tables built" buildMs for this change, when it logged one. */
  buildMs: number[];
  /** "tables built" lines in the change's window: more than one is a build the change did not cause. */
  builds: number;
}

export interface ControlPlaneRun {
  source: ControllerSource['kind'];
  /** Spawn to "controller ready" (the first snapshot taken, the xDS port listening). */
  readyMs: number | null;
  /** buildMs of the first "tables built" line (the allocation; views are built as agents ask). */
  firstBuildMs: number | null;
  /** Spawn to the first "tables built" line read. */
  firstBuildLineMs: number | null;
  /** Agents launched to every agent having its first name table. */
  allFirstTablesMs: number | null;
  /** Controller spawn to the same. */
  spawnToAllTablesMs: number | null;
  /**
   * Agents launched to every agent having its first VIP routes too: they follow the table on each stream,
   * and a change made before they are all out queues behind them (the change loop waits for this).
   */
  allFirstRoutesMs: number | null;
  realAgentFirstMs: number | null;
  rssMiB: number;
  /** The controller's peak RSS (VmHWM) from its spawn to that point. */
  peakRssMiB: number;
  /** V8 heap used and external memory (ArrayBuffers, Buffers) at the same point, from its /metrics. */
  heapUsedMiB: number;
  externalMiB: number;
  /** CPU seconds the controller used from its spawn to that point (the start-up, the status writes). */
  startCpuS: number;
  /** Name table bytes (the resources of the first NameTable response) per namespace's view. */
  tableBytes: Record<string, number>;
  changes: ChangeFigures[];
  /** CPU seconds the controller used over the change loop, and the loop's length. */
  changeLoopCpuS: number;
  /** CPU seconds the agents launcher used over the change loop: near 1 per second, it set the pace. */
  agentsCpuS: number;
  changeLoopS: number;
  /** "tables built" lines before the change loop (the first build, then any the source caused). */
  buildsBeforeLoop: number;
  /** The change loop's window in seconds after the controller's spawn (for a --cpu-prof profile). */
  profileWindowS: [number, number];
  stopped?: string;
}

export interface RunInputs {
  group: ProcessGroup;
  cfg: ControlPlaneConfig;
  size: ControlPlaneSize;
  source: ControllerSource;
  /** Makes one change (rewrites a file, or patches through the API). */
  change: (t: ChangeTarget, address: string) => Promise<void>;
  workDir: string;
  runIndex: number;
  nodeFlags: string[];
  log: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` every POLL_MS until true or `deadline` (wall ms); true when done. */
async function until(done: () => boolean, deadline: number, alive: () => boolean): Promise<boolean> {
  while (!done()) {
    if (wallMs() > deadline || !alive()) return false;
    await sleep(POLL_MS);
  }
  return true;
}

export async function measureRun(inp: RunInputs): Promise<ControlPlaneRun> {
  const { cfg, group, log } = inp;
  const xds: ServerAddress = { host: XDS_HOST, port: await freeTcpPort(XDS_HOST) };
  const recordsFile = path.join(inp.workDir, `records-${inp.runIndex}.jsonl`);
  const spawnAt = wallMs();
  const controller = startController(group, inp.source, xds, inp.nodeFlags);
  const pid = controller.proc.child.pid!;
  const alive = () => controller.proc.running;
  const run: ControlPlaneRun = {
    source: inp.source.kind,
    readyMs: null,
    firstBuildMs: null,
    firstBuildLineMs: null,
    allFirstTablesMs: null,
    spawnToAllTablesMs: null,
    allFirstRoutesMs: null,
    realAgentFirstMs: null,
    rssMiB: Number.NaN,
    peakRssMiB: Number.NaN,
    heapUsedMiB: Number.NaN,
    externalMiB: Number.NaN,
    startCpuS: Number.NaN,
    tableBytes: {},
    changes: [],
    changeLoopCpuS: Number.NaN,
    agentsCpuS: Number.NaN,
    changeLoopS: Number.NaN,
    buildsBeforeLoop: 0,
    profileWindowS: [Number.NaN, Number.NaN],
  };
  const startDeadline = spawnAt + cfg.startDeadlineSeconds * 1000;
  const ready = await controller.waitFor(/"msg":"controller ready"/, cfg.startDeadlineSeconds * 1000);
  const admin = (JSON.parse(ready) as { admin?: string }).admin;
  run.readyMs = wallMs() - spawnAt;
  const first = controller.builds[0];
  if (first) {
    run.firstBuildMs = first.buildMs ?? null;
    run.firstBuildLineMs = first.at - spawnAt;
  }

  const agentsAt = wallMs();
  const agents = startAgents(group, {
    target: `${xds.host}:${xds.port}`,
    agents: cfg.agents,
    namespaces: cfg.namespaces,
    records: recordsFile,
  });
  const targets = changeTargets(inp.size);
  const dns: ServerAddress = { host: REAL_AGENT_DNS, port: await freeDnsPort(REAL_AGENT_DNS) };
  const real = startRealAgent(group, { controller: xds, dns, namespace: targets.namespace.namespace });
  while (!existsSync(recordsFile) && wallMs() < startDeadline && agents.running) await sleep(POLL_MS);
  const records = new AdsRecords(recordsFile, cfg.agents);
  const everyone = Array.from({ length: cfg.agents }, (_, a) => a);
  const hasTable = (a: number) => records.byAgent[a].some((r) => r.t === 'N');
  const allUp = await until(
    () => {
      records.poll();
      return everyone.every(hasTable);
    },
    startDeadline,
    () => alive() && agents.running,
  );
  if (!allUp) {
    run.stopped = `${everyone.filter((a) => !hasTable(a)).length} agents without a table by the deadline`;
    if (!agents.running) run.stopped += `; agents launcher: ${agents.stderr}`;
    return run;
  }
  const lastFirst = Math.max(...everyone.map((a) => records.byAgent[a].find((r) => r.t === 'N')!.at));
  run.allFirstTablesMs = lastFirst - agentsAt;
  run.spawnToAllTablesMs = lastFirst - spawnAt;
  for (let n = 0; n < cfg.namespaces && n < cfg.agents; n++) {
    const r = records.byAgent[n].find((x) => x.t === 'N');
    if (r?.b !== undefined) run.tableBytes[agentNamespace(n, cfg.namespaces)] = r.b;
  }
  const hasRoutes = (a: number) => records.byAgent[a].some((r) => r.t === 'V');
  const routesUp = await until(
    () => {
      records.poll();
      return everyone.every(hasRoutes);
    },
    startDeadline,
    () => alive() && agents.running,
  );
  if (routesUp) {
    const last = Math.max(...everyone.map((a) => records.byAgent[a].find((r) => r.t === 'V')!.at));
    run.allFirstRoutesMs = last - agentsAt;
  }
  const initial = changeAddress('initial');
  const realUp = await pollUntil(dns, targets.namespace.host, (r) => r.addresses.includes(initial), {
    intervalMs: 20,
    deadline: performance.now() + Math.max(0, startDeadline - wallMs()),
    alive: () => real.proc.running,
  });
  run.realAgentFirstMs = realUp === undefined ? null : realUp + performance.timeOrigin - agentsAt;
  await sleep(SETTLE_MS);
  run.rssMiB = rssMiB(pid);
  run.peakRssMiB = peakRssMiB(pid);
  run.startCpuS = cpuSeconds(pid);
  const v8 = admin ? await v8Memory(admin) : undefined;
  if (v8) {
    run.heapUsedMiB = v8.heapUsed / MIB;
    run.externalMiB = v8.external / MIB;
  }
  log(
    `    run ${inp.runIndex + 1}: ready ${fmt(run.readyMs)} ms, first build ${fmt(run.firstBuildMs)} ms, ` +
      `${cfg.agents} agents' first tables ${fmt(run.allFirstTablesMs)} ms, RSS ${run.rssMiB.toFixed(0)} MiB`,
  );

  const loopAt = wallMs();
  const cpuBefore = cpuSeconds(pid);
  const agentsCpuBefore = cpuSeconds(agents.child.pid);
  run.buildsBeforeLoop = controller.builds.length;
  for (let k = 0; k < cfg.changes && alive(); k++) {
    const t = k % 2 === 0 ? targets.all : targets.namespace;
    run.changes.push(await oneChange(inp, records, controller, real, dns, t, k));
    await sleep(cfg.spacingMs);
  }
  run.changeLoopCpuS = cpuSeconds(pid) - cpuBefore;
  run.agentsCpuS = cpuSeconds(agents.child.pid) - agentsCpuBefore;
  run.changeLoopS = (wallMs() - loopAt) / 1000;
  run.profileWindowS = [(loopAt - spawnAt) / 1000, (wallMs() - spawnAt) / 1000];
  if (!alive()) run.stopped = `the controller exited: ${controller.proc.stderr}`;
  records.poll();
  records.close();
  await agents.stop();
  await real.proc.stop();
  await controller.proc.stop();
  return run;
}

async function oneChange(
  inp: RunInputs,
  records: AdsRecords,
  controller: LoggedProcess,
  real: LoggedProcess,
  dns: ServerAddress,
  t: ChangeTarget,
  k: number,
): Promise<ChangeFigures> {
  const { cfg } = inp;
  const sees = (a: number) => t.scope === 'all' || agentNamespace(a, cfg.namespaces) === t.namespace;
  const affected = Array.from({ length: cfg.agents }, (_, a) => a).filter(sees);
  const address = changeAddress(k);
  const buildsBefore = controller.builds.length;
  const at = wallMs();
  const deadline = at + cfg.changeDeadlineSeconds * 1000;
  const realDone = pollUntil(dns, t.host, (r) => r.addresses.includes(address), {
    intervalMs: DNS_POLL_MS,
    deadline: performance.now() + cfg.changeDeadlineSeconds * 1000,
    alive: () => real.proc.running,
  });
  await inp.change(t, address);
  const got = (a: number) => records.firstAfter(a, 'N', at) !== undefined;
  const all = await until(
    () => {
      records.poll();
      return affected.every(got);
    },
    deadline,
    () => controller.proc.running,
  );
  const realAt = await realDone;
  // Pushes that come late, or to agents that should not get any, land in this window too.
  await sleep(cfg.spacingMs);
  records.poll();
  const end = wallMs();
  const arrivals = affected.flatMap((a) => records.firstAfter(a, 'N', at) ?? []);
  const versionsByNs = new Map<string, Set<string>>();
  for (const r of arrivals) {
    const ns = agentNamespace(r.a, cfg.namespaces);
    versionsByNs.set(ns, (versionsByNs.get(ns) ?? new Set()).add(r.v));
  }
  const everyone = Array.from({ length: cfg.agents }, (_, a) => a);
  return {
    scope: t.scope,
    affected: affected.length,
    lastMs: all ? Math.max(...arrivals.map((r) => r.at)) - at : null,
    agentMs: arrivals.map((r) => r.at - at),
    pushesToOthers: everyone
      .filter((a) => !sees(a))
      .reduce((sum, a) => sum + records.countBetween(a, 'N', at, end), 0),
    routePushes: everyone.reduce((sum, a) => sum + records.countBetween(a, 'V', at, end), 0),
    versionSplits: [...versionsByNs.values()].filter((v) => v.size > 1).length,
    realAgentMs: realAt === undefined ? null : realAt + performance.timeOrigin - at,
    buildMs: controller.builds
      .slice(buildsBefore)
      .flatMap((b) => (b.buildMs === undefined ? [] : [b.buildMs])),
    builds: controller.builds.length - buildsBefore,
  };
}

const MIB = 1024 * 1024;

/** The controller's V8 heap used and external bytes, from prom-client's default metrics; undefined on failure. */
async function v8Memory(admin: string): Promise<{ heapUsed: number; external: number } | undefined> {
  try {
    const res = await fetch(`http://${admin}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const read = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
    return { heapUsed: read('nodejs_heap_size_used_bytes'), external: read('nodejs_external_memory_bytes') };
  } catch {
    return undefined;
  }
}

const fmt = (v: number | null) => (v === null ? '-' : Math.round(v).toString());
