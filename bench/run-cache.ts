// `npm run bench:cache [scenario...]`: the cache scenarios (cache, search-path, table-metrics) on
// their own harness. Results print as text and go to dist/bench-results/ as JSON.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PerfComparison } from './lib/cache-dnsperf.js';
import {
  type BenchTool,
  type CacheScenarioContext,
  ChildGroup,
  cacheBenchConfig,
  ensureBenchTools,
} from './lib/cache-harness.js';
import { cacheScenario } from './scenarios/cache.js';
import { pipelineMetricsScenario } from './scenarios/pipeline-metrics.js';
import { searchPathScenario } from './scenarios/search-path.js';
import { tableMetricsScenario } from './scenarios/table-metrics.js';

interface AnyScenario {
  name: string;
  description: string;
  tools: BenchTool[];
  run(
    ctx: CacheScenarioContext,
  ): Promise<Partial<PerfComparison> & { setup: Record<string, unknown>; text?: string[] }>;
}

const SCENARIOS: AnyScenario[] = [
  cacheScenario,
  searchPathScenario,
  tableMetricsScenario,
  pipelineMetricsScenario,
];
const RESULTS = fileURLToPath(new URL('../bench-results/', import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);

function format(name: string, r: Awaited<ReturnType<AnyScenario['run']>>): string {
  const lines = [`== ${name}`];
  for (const [k, v] of Object.entries(r.setup))
    lines.push(`  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  for (const c of r.contenders ?? []) {
    lines.push(
      `  ${c.label.padEnd(20)} median ${Math.round(c.medianQps).toString().padStart(7)} qps  (runs: ${c.runs.map((x) => Math.round(x.qps)).join(', ')})`,
    );
  }
  for (const x of r.ratios ?? []) lines.push(`  ${x.label.padEnd(36)} ${x.value.toFixed(2)}`);
  for (const t of r.text ?? []) lines.push(`  ${t}`);
  for (const w of r.warnings ?? []) lines.push(`  WARNING ${w}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const scenarios =
    wanted.length === 0
      ? SCENARIOS
      : wanted.map((n) => {
          const s = SCENARIOS.find((x) => x.name === n);
          if (!s)
            throw new Error(`unknown scenario "${n}"; available: ${SCENARIOS.map((x) => x.name).join(', ')}`);
          return s;
        });
  const config = cacheBenchConfig();
  const group = new ChildGroup();
  process.on('exit', () => group.killAllNow());
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => void group.closeAll().finally(() => process.exit(130)));
  const tools = ensureBenchTools(
    [...new Map(scenarios.flatMap((s) => s.tools).map((t) => [t.bin, t])).values()],
    log,
  );
  log(`meshdns cache bench: ${JSON.stringify(config)}; load ${os.loadavg()[0].toFixed(2)}`);
  mkdirSync(RESULTS, { recursive: true });
  for (const s of scenarios) {
    log(`${s.name}: ${s.description}`);
    const workDir = mkdtempSync(path.join(os.tmpdir(), `meshdns-bench-${s.name}-`));
    chmodSync(workDir, 0o755);
    try {
      const result = await s.run({ config, group, tools, workDir, log });
      process.stdout.write(`${format(s.name, result)}\n`);
      const file = path.join(RESULTS, `${s.name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      writeFileSync(
        file,
        `${JSON.stringify({ scenario: s.name, config, cpus: os.availableParallelism(), node: process.version, ...result }, null, 2)}\n`,
      );
      log(`results: ${path.relative(process.cwd(), file)}`);
    } finally {
      await group.closeAll();
      rmSync(workDir, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  log(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exitCode = 1;
});
