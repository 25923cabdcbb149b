// `npm run bench [scenario...]`: runs meshdns and its peers side by side under the same load and
// prints the figures and ratios (STYLE.md §12). Settings: BENCH_* variables, see lib/config.ts.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchConfig, configFromEnv } from './lib/config.js';
import { inBenchNetns, runInNetns } from './lib/netns.js';
import { ProcessGroup } from './lib/processes.js';
import { writeResult } from './lib/report.js';
import { ensureTools, type Tool } from './lib/tools.js';
import { cacheScenario } from './scenarios/cache.js';
import { controlPlaneScenario } from './scenarios/controlplane.js';
import { floodScenario } from './scenarios/flood.js';
import { hedgeScenario } from './scenarios/hedge.js';
import { pipelineMetricsScenario } from './scenarios/pipeline-metrics.js';
import { restartScenario } from './scenarios/restart.js';
import { scaleScenario } from './scenarios/scale.js';
import type { Scenario } from './scenarios/scenario.js';
import { searchPathScenario } from './scenarios/search-path.js';
import { tableScenario } from './scenarios/table.js';
import { tableMetricsScenario } from './scenarios/table-metrics.js';
import { vipScenario } from './scenarios/vip.js';
import { wildcardScenario } from './scenarios/wildcard.js';
import { REPO_ROOT } from './servers/meshdns.js';

const SCENARIOS: readonly Scenario[] = [
  tableScenario,
  vipScenario,
  cacheScenario,
  searchPathScenario,
  tableMetricsScenario,
  pipelineMetricsScenario,
  scaleScenario,
  controlPlaneScenario,
  floodScenario,
  hedgeScenario,
  restartScenario,
  wildcardScenario,
];

/** dist/bench-results/: under the build output, so results are never committed by accident. */
const RESULTS_DIR = fileURLToPath(new URL('../bench-results/', import.meta.url));

/** 1-minute load average above which other work on the machine will skew the figures. */
const BUSY_LOAD = 0.5;

const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * The scenarios named, or all of them. One that needs root fails up front when named, and is left out
 * (with a line on stderr) when all are run by someone else.
 */
function selectScenarios(names: string[]): Scenario[] {
  const root = process.getuid?.() === 0;
  if (names.length === 0) {
    for (const s of SCENARIOS.filter((x) => x.needsRoot && !root))
      log(`${s.name}: left out, it needs root (${s.needsRoot})`);
    return SCENARIOS.filter((x) => !x.needsRoot || root);
  }
  return names.map((name) => {
    const s = SCENARIOS.find((x) => x.name === name);
    if (!s)
      throw new Error(`unknown scenario "${name}"; available: ${SCENARIOS.map((x) => x.name).join(', ')}`);
    if (s.needsRoot && !root) throw new Error(`${name} needs root: ${s.needsRoot}`);
    return s;
  });
}

function gitRevision(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${rev}+dirty` : rev;
  } catch {
    return 'unknown';
  }
}

function machine(): Record<string, unknown> {
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    kernel: os.release(),
    loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
    git: gitRevision(),
  };
}

function describeConfig(c: BenchConfig): string {
  const pin =
    c.serverCpu === undefined
      ? 'no CPU pinning'
      : `servers on CPU ${c.serverCpu}, load generators on CPU ${c.clientCpu}`;
  return `${c.runs} runs per contender, BENCH_SECONDS ${c.seconds} (+${c.warmupSeconds} s warm-up), ${pin}`;
}

async function main(): Promise<void> {
  const scenarios = selectScenarios(process.argv.slice(2));
  const config = configFromEnv(process.env, RESULTS_DIR);
  const group = new ProcessGroup();
  const workDirs = new Set<string>();
  const cleanUpNow = () => {
    group.killAllNow();
    for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', cleanUpNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      log(`\n${signal}: stopping the servers`);
      void group.closeAll().finally(() => process.exit(130));
    });
  }

  const tools = ensureTools(
    [...new Map<string, Tool>(scenarios.flatMap((s) => s.tools).map((t) => [t.bin, t])).values()],
    log,
  );
  const started = new Date();
  const host = machine();
  log(`meshdns bench: ${describeConfig(config)}`);
  if (os.loadavg()[0] > BUSY_LOAD)
    log(`WARNING load average ${os.loadavg()[0].toFixed(2)}: the machine is busy`);

  for (const scenario of scenarios) {
    if (scenario.ownNetns && process.getuid?.() === 0 && !inBenchNetns()) {
      await runInNetns(fileURLToPath(import.meta.url), scenario.name, log);
      continue;
    }
    log(`${scenario.name}: ${scenario.description}`);
    const workDir = mkdtempSync(path.join(os.tmpdir(), `meshdns-bench-${scenario.name}-`));
    workDirs.add(workDir);
    // dnsmasq drops to `nobody` before reading its hosts file.
    chmodSync(workDir, 0o755);
    try {
      const result = await scenario.run({ config, group, tools, workDir, log });
      process.stdout.write(`${scenario.format(result)}\n`);
      const file = await writeResult(config.resultsDir, started, {
        result,
        config,
        machine: { ...host, loadavgAfter: os.loadavg().map((l) => Number(l.toFixed(2))) },
        date: started.toISOString(),
      });
      log(`results: ${path.relative(process.cwd(), file)}`);
    } finally {
      await group.closeAll();
      rmSync(workDir, { recursive: true, force: true });
      workDirs.delete(workDir);
    }
  }
}

main().catch((err: unknown) => {
  log(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
