// Scenario "scale" (issue 8's scale targets): `meshdns serve` on folders of 10,000 to 200,000
// objects, in 100 files and one file per object: time to the first answer and to the full table,
// memory, edit-to-answer, and the longest stall, measured inside (monitorEventLoopDelay) and outside
// (a name asked every millisecond). A real dnsmasq upstream answers the forwarded name.
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeHostsFile } from '../fixtures/files.js';
import { LAYOUTS, type Layout, MAX_EDITS, ScaleFixture, type ScaleSize } from '../fixtures/scale.js';
import { type ScaleConfig, scaleConfigFromEnv } from '../lib/config.js';
import type { ServerAddress } from '../lib/dns-probe.js';
import { freeDnsPort, freeTcpPort } from '../lib/ports.js';
import { startDnsmasq } from '../servers/dnsmasq.js';
import { meshdnsVersion } from '../servers/meshdns.js';
import { formatScale, type ScaleTargets } from './scale-report.js';
import { measureRun, type RunTarget, type ScaleRun } from './scale-run.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';

const HOSTS = { meshdns: '127.0.0.61', upstream: '127.0.0.62' } as const;
const FORWARDED = { name: 'probe.upstream.test', address: '198.18.0.1' } as const;

/** Every size must answer forwarded names at once and never stall (issue 8). */
const ALWAYS = { firstAnswerMs: 100, stallMs: 20 } as const;

/**
 * The issue's sizes: 10,000 and 50,000 objects half Services, half ServiceEntries; "100k" is
 * 100,000 of each. Any other size N: N/2 of each, with only the targets every size has.
 */
const PRESETS: Record<number, { size: ScaleSize; targets: ScaleTargets }> = {
  10000: {
    size: { services: 5_000, entries: 5_000 },
    targets: { ...ALWAYS, fullTableMs: 500, editMs: 200 },
  },
  50000: {
    size: { services: 25_000, entries: 25_000 },
    targets: { ...ALWAYS, fullTableMs: 2_000, editMs: 500, rssMiB: 300 },
  },
  100000: {
    size: { services: 100_000, entries: 100_000 },
    targets: { ...ALWAYS, fullTableMs: 10_000, editMs: 1_000, rssMiB: 1_536 },
  },
};

/** `sync(1)`: every dirty page written back. */
function flushToDisk(): Promise<unknown> {
  return promisify(execFile)('sync');
}

export function preset(n: number): { size: ScaleSize; targets: ScaleTargets } {
  return (
    PRESETS[n] ?? {
      size: { services: Math.floor(n / 2), entries: Math.ceil(n / 2) },
      targets: { ...ALWAYS },
    }
  );
}

export interface ScaleResult extends ScenarioResult {
  runs: (ScaleRun & { targets: ScaleTargets })[];
}

function checkConfig(cfg: ScaleConfig): Layout[] {
  const bad = cfg.layouts.filter((l) => !LAYOUTS.includes(l as Layout));
  if (bad.length > 0)
    throw new Error(`BENCH_SCALE_LAYOUTS: unknown ${bad.join(', ')}; available: ${LAYOUTS.join(', ')}`);
  if (cfg.edits > MAX_EDITS) throw new Error(`BENCH_SCALE_EDITS: at most ${MAX_EDITS}`);
  return cfg.layouts as Layout[];
}

async function run(ctx: ScenarioContext): Promise<ScaleResult> {
  const { log, workDir } = ctx;
  const cfg = scaleConfigFromEnv(process.env);
  const layouts = checkConfig(cfg);
  const upstream: ServerAddress = { host: HOSTS.upstream, port: await freeDnsPort(HOSTS.upstream) };
  const hostsFile = await writeHostsFile(path.join(workDir, 'upstream-hosts'), [
    [FORWARDED.address, FORWARDED.name],
  ]);
  const dnsmasq = await startDnsmasq(ctx.group, {
    bin: ctx.tools.get('dnsmasq')!,
    label: 'upstream dnsmasq',
    listen: upstream,
    hostsFiles: [hostsFile],
    localDomains: ['upstream.test'],
    probeName: FORWARDED.name,
  });
  log(`  upstream dnsmasq ${dnsmasq.version} on ${upstream.host}:${upstream.port}`);
  log(
    `  ${cfg.edits} edits per run, ${cfg.deadlineSeconds} s deadline per run, ${cfg.editDeadlineSeconds} s per edit`,
  );

  const runs: ScaleResult['runs'] = [];
  for (const n of cfg.sizes) {
    const { size, targets } = preset(n);
    for (const layout of layouts) {
      const dir = path.join(workDir, `manifests-${n}-${layout}`);
      const startedAt = performance.now();
      const fixture = await ScaleFixture.write(dir, size, layout);
      const generateMs = performance.now() - startedAt;
      // Written back to the disk now, not while meshdns starts: the kernel's writeback of 50,000 new
      // files took CPU and disk from the measured start (full table 3.1 s one run, 4.7 s the next).
      await flushToDisk();
      log(
        `  ${n} objects, ${layout}: ${fixture.fileCount} files written in ${(generateMs / 1000).toFixed(1)} s`,
      );
      const target: RunTarget = {
        dns: { host: HOSTS.meshdns, port: await freeDnsPort(HOSTS.meshdns) },
        admin: { host: HOSTS.meshdns, port: await freeTcpPort(HOSTS.meshdns) },
        upstream,
        forwarded: FORWARDED,
        searchDomain: 'default.svc.cluster.local',
        nodeFlags: process.env.BENCH_MESHDNS_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [],
      };
      try {
        const r = await measureRun(ctx.group, fixture, { size: n, generateMs }, target, cfg, workDir);
        log(
          `    full table ${r.fullTableMs === null ? '-' : Math.round(r.fullTableMs)} ms, ${r.editMs.length} edits${r.stopped ? `; stopped: ${r.stopped}` : ''}`,
        );
        runs.push({ ...r, targets });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  await dnsmasq.proc.stop();
  return {
    scenario: scaleScenario.name,
    description: scaleScenario.description,
    setup: {
      meshdnsVersion: meshdnsVersion(),
      sizes: cfg.sizes.map((n) => ({ n, ...preset(n).size })),
      layouts,
      edits: cfg.edits,
      deadlineSeconds: cfg.deadlineSeconds,
      editDeadlineSeconds: cfg.editDeadlineSeconds,
      pinning: 'none: meshdns may use every core (a build off the event loop needs one besides it)',
    },
    warnings: runs.flatMap((r) => [
      ...r.warnings.map((w) => `${r.size} ${r.layout}: ${w}`),
      ...(r.stopped ? [`${r.size} ${r.layout}: stopped early: ${r.stopped}`] : []),
      ...(r.peakReset || r.editMs.length === 0
        ? []
        : [`${r.size} ${r.layout}: peak RSS over the edits includes the start-up`]),
    ]),
    runs,
  };
}

export const scaleScenario: Scenario<ScaleResult> = {
  name: 'scale',
  description:
    'serve on 10k/50k(/100k) objects, 100 files and one per object: first answer, full table, RSS, edit-to-answer, stalls',
  tools: [{ bin: 'dnsmasq', pkg: 'dnsmasq-base' }],
  run,
  format: formatScale,
};
