// Scenario "pipeline-metrics": the cost of counting, without the network. Table hits go through
// Pipeline.answer() in a loop, in-process, with the metrics observer and without; the variants are
// alternated and the median nanoseconds per query compared. dnsperf figures on 2 shared cores move by
// tens of percent from run to run, far more than counting can cost; this shows the cost itself.
import { performance } from 'node:perf_hooks';
import { Registry } from '../../src/metrics.js';
import { emptyResources, type Service } from '../../src/model/index.js';
import { buildNameTable } from '../../src/nametable/index.js';
import { Pipeline, TableStage } from '../../src/server/index.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { buildQuery } from '../../src/upstream/index.js';
import { warningLines } from '../lib/report.js';
import { median } from '../lib/stats.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';

const NAMES = 1000;
const QUERIES = 1_000_000;
const ROUNDS = 15;

function table() {
  const r = emptyResources();
  for (let i = 0; i < NAMES; i++) {
    const svc: Service = {
      kind: 'Service',
      meta: { name: `svc-${i}`, namespace: `ns-${i % 10}`, labels: {}, annotations: {} },
      clusterIPs: [`10.100.${Math.floor(i / 250)}.${(i % 250) + 1}`],
      headless: false,
      ports: [{ port: 80, protocol: 'TCP' }],
      publishNotReadyAddresses: false,
      source: { file: 'bench', doc: i },
    };
    r.services.push(svc);
  }
  return buildNameTable(r, { namespace: 'ns-0', clusterDomain: 'cluster.local', searchDomains: [] });
}

interface PipelineMetricsResult extends ScenarioResult {
  /** ns/query of each round, by variant. */
  nsPerQuery: Record<'metrics' | 'no metrics', number[]>;
  medianNsPerQuery: Record<'metrics' | 'no metrics', number>;
  /** qps with metrics / qps without: the median of the rounds' ratios. */
  ratio: number;
}

async function run(ctx: ScenarioContext): Promise<PipelineMetricsResult> {
  const stage = new TableStage();
  stage.set(table());
  const queries = Array.from({ length: NAMES }, (_, i) =>
    buildQuery(`svc-${i}.ns-${i % 10}.svc.cluster.local`, 1, i),
  );
  const variants = {
    metrics: new Pipeline([stage], new ServerMetrics(new Registry())),
    'no metrics': new Pipeline([stage]),
  };
  const ns: PipelineMetricsResult['nsPerQuery'] = { metrics: [], 'no metrics': [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const label of ['metrics', 'no metrics'] as const) {
      const pipeline = variants[label];
      const started = performance.now();
      for (let i = 0; i < QUERIES; i++) pipeline.answer(queries[i % NAMES], 'udp');
      ns[label].push(((performance.now() - started) * 1e6) / QUERIES);
    }
  }
  const [withMetrics, without] = [median(ns.metrics), median(ns['no metrics'])];
  // Each round runs both back to back: the ratio within a round cancels most of the machine's drift.
  const pairwise = median(ns.metrics.map((m, i) => ns['no metrics'][i] / m));
  ctx.log(`  ns/query with metrics: ${ns.metrics.map((x) => x.toFixed(0)).join(', ')}`);
  ctx.log(`  ns/query without:      ${ns['no metrics'].map((x) => x.toFixed(0)).join(', ')}`);
  return {
    scenario: pipelineMetricsScenario.name,
    description: pipelineMetricsScenario.description,
    setup: {
      names: NAMES,
      queriesPerRound: QUERIES,
      rounds: ROUNDS,
      what: 'Pipeline.answer() of table hits, in-process, no sockets',
    },
    nsPerQuery: ns,
    medianNsPerQuery: { metrics: withMetrics, 'no metrics': without },
    ratio: pairwise,
    warnings: [],
  };
}

function format(r: PipelineMetricsResult): string {
  const { metrics: withMetrics, 'no metrics': without } = r.medianNsPerQuery;
  return [
    `${r.scenario}: ${r.description}`,
    `  ${r.setup.rounds} rounds of ${Number(r.setup.queriesPerRound).toLocaleString('en-US')} queries a variant, alternated`,
    `  median ns/query: with metrics ${withMetrics.toFixed(1)}, without ${without.toFixed(1)}`,
    `  qps ratio with / without metrics (in-process): ${(without / withMetrics).toFixed(3)} of medians, ${r.ratio.toFixed(3)} median of rounds`,
    ...warningLines(r),
  ].join('\n');
}

export const pipelineMetricsScenario: Scenario<PipelineMetricsResult> = {
  name: 'pipeline-metrics',
  description: `the cost of counting: ${NAMES} table names through Pipeline.answer() in-process, metrics on and off`,
  tools: [],
  run,
  format,
};
