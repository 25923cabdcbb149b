// Scenario "controlplane" (issue 10 item 7): `meshdns controller` on 10,000 ServiceEntries + 5,000
// Services, read from the Kubernetes API test server (or a manifests folder), serving 200 agents from
// one process: full build, time to every first table, memory, and change → last affected agent.
import path from 'node:path';
import {
  type ChangeTarget,
  type ControlPlaneSize,
  changeAddress,
  changeTargets,
  MAX_CHANGES,
  writeManifests,
} from '../fixtures/controlplane.js';
import { type ControlPlaneConfig, controlPlaneConfigFromEnv } from '../lib/config.js';
import {
  type ControllerSource,
  kubeSourceWorks,
  patchServiceEntry,
  startKubeApiProcess,
} from '../servers/control-plane.js';
import { meshdnsVersion } from '../servers/meshdns.js';
import { type ControlPlaneResult, formatControlPlane, TARGETS } from './controlplane-report.js';
import { type ControlPlaneRun, measureRun } from './controlplane-run.js';
import type { Scenario, ScenarioContext } from './scenario.js';

async function pickSource(cfg: ControlPlaneConfig, ctx: ScenarioContext): Promise<'kube' | 'manifests'> {
  if (cfg.source !== 'auto') return cfg.source;
  const kube = await kubeSourceWorks(ctx.group, ctx.workDir);
  if (!kube) ctx.log('  `meshdns controller --kube` is not wired in yet: reading a manifests folder instead');
  return kube ? 'kube' : 'manifests';
}

/** One run's controller source and its way of making a change; `done` stops what the run started. */
async function prepare(
  kind: 'kube' | 'manifests',
  size: ControlPlaneSize,
  ctx: ScenarioContext,
  run: number,
  folder: () => Promise<(t: ChangeTarget, address: string) => Promise<void>>,
  deadlineMs: number,
): Promise<{
  source: ControllerSource;
  change: (t: ChangeTarget, a: string) => Promise<void>;
  done: () => Promise<void>;
}> {
  if (kind === 'manifests') {
    const dir = path.join(ctx.workDir, 'mesh');
    const stateFile = path.join(ctx.workDir, `state-${run}.json`);
    const change = await folder();
    // Every run starts from the same folder: the changed entries back at their first address.
    for (const t of Object.values(changeTargets(size))) await change(t, changeAddress('initial'));
    return { source: { kind, dir, stateFile }, change, done: async () => {} };
  }
  const started = performance.now();
  const api = await startKubeApiProcess(ctx.group, { ...size, dir: ctx.workDir }, deadlineMs);
  ctx.log(
    `  kube API test server: ${api.objects} objects at ${api.url} (${Math.round(performance.now() - started)} ms)`,
  );
  return {
    source: { kind, kubeconfig: api.kubeconfig },
    change: (t, address) =>
      patchServiceEntry(api, t, { spec: { addresses: [address], endpoints: [{ address }] } }),
    done: () => api.proc.stop(),
  };
}

async function run(ctx: ScenarioContext): Promise<ControlPlaneResult> {
  const cfg = controlPlaneConfigFromEnv(process.env);
  if (cfg.changes > MAX_CHANGES) throw new Error(`BENCH_CP_CHANGES: at most ${MAX_CHANGES}`);
  const size: ControlPlaneSize = { entries: cfg.entries, services: cfg.services, namespaces: cfg.namespaces };
  const kind = await pickSource(cfg, ctx);
  const nodeFlags = process.env.BENCH_MESHDNS_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  let written: ((t: ChangeTarget, a: string) => Promise<void>) | undefined;
  const folder = async () => {
    if (!written) {
      const startedAt = performance.now();
      const m = await writeManifests(path.join(ctx.workDir, 'mesh'), size);
      ctx.log(`  manifests: ${m.files} files in ${Math.round(performance.now() - startedAt)} ms`);
      written = m.change;
    }
    return written;
  };
  const runs: ControlPlaneRun[] = [];
  for (let i = 0; i < ctx.config.runs; i++) {
    const prepared = await prepare(kind, size, ctx, i, folder, cfg.startDeadlineSeconds * 1000);
    try {
      const r = await measureRun({
        group: ctx.group,
        cfg,
        size,
        source: prepared.source,
        change: prepared.change,
        workDir: ctx.workDir,
        runIndex: i,
        nodeFlags,
        log: ctx.log,
      });
      runs.push(r);
      const [from, to] = r.profileWindowS;
      ctx.log(
        `    run ${i + 1}: ${r.changes.length} changes; change loop ${from.toFixed(1)}-${to.toFixed(1)} s after the controller's spawn` +
          (r.stopped ? `; stopped: ${r.stopped}` : ''),
      );
    } finally {
      await ctx.group.closeAll();
      await prepared.done();
    }
  }
  return {
    scenario: controlPlaneScenario.name,
    description: controlPlaneScenario.description,
    setup: {
      meshdnsVersion: meshdnsVersion(),
      source: kind,
      size,
      agents: cfg.agents,
      changes: cfg.changes,
      spacingMs: cfg.spacingMs,
      changeDeadlineSeconds: cfg.changeDeadlineSeconds,
      targets: TARGETS,
      pinning: 'none: controller, agents launcher, real agent and API server share the machine',
    },
    warnings: runs.flatMap((r, i) => (r.stopped ? [`run ${i + 1} stopped early: ${r.stopped}`] : [])),
    runs,
  };
}

export const controlPlaneScenario: Scenario<ControlPlaneResult> = {
  name: 'controlplane',
  description:
    'controller on 10k ServiceEntries + 5k Services, 200 agents: full build, first tables, RSS, change → last agent',
  tools: [],
  run,
  format: formatControlPlane,
};
