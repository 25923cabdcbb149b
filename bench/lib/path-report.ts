// The `vip` scenario's tables on stdout: one per metric, paths as rows, then the ratios.
import type { ScenarioResult } from '../scenarios/scenario.js';
import type { MetricComparison, PathSummary } from './path-compare.js';
import { formatRows, warningLines } from './report.js';

export interface PathsResult extends ScenarioResult {
  /** What ran on which CPU, in words. */
  pinning: string;
  metrics: MetricComparison[];
}

/** Big figures (connections/s) as whole numbers, small ones (Gbit/s) with two decimals. */
function figure(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

const share = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '-');

/** Detail keys ending in "Ms" are latencies in milliseconds: "p99LatencyMs" → "p99 latency". */
function detailHeader(key: string): string {
  return key
    .replace(/Ms$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase();
}

function detailCell(key: string, value: number): string {
  return key.endsWith('Ms') ? `${value.toFixed(3)} ms` : figure(value);
}

function metricRows(m: MetricComparison): string[][] {
  const runCount = Math.max(...m.paths.map((p) => p.runs.length));
  const detailKeys = Object.keys(m.paths[0]?.medianDetails ?? {});
  const header = [
    'path',
    ...Array.from({ length: runCount }, (_, i) => `run ${i + 1}`),
    `median ${m.unit}`,
    'per proxy CPU-s',
    'proxy CPU',
    'of it user',
    'backend CPU',
    'server core',
    'client core',
    ...detailKeys.map(detailHeader),
  ];
  const row = (p: PathSummary) => [
    p.label,
    ...Array.from({ length: runCount }, (_, i) => (p.runs[i] ? figure(p.runs[i].value) : '')),
    figure(p.median),
    figure(p.medianPerProxyCpu),
    share(p.medianProxyCpuShare),
    share(p.medianProxyUserShare),
    share(p.medianBackendCpuShare),
    share(p.medianServerCoreBusy),
    share(p.medianClientCoreBusy),
    ...detailKeys.map((k) => detailCell(k, p.medianDetails[k])),
  ];
  return [header, ...m.paths.map(row)];
}

function formatMetric(m: MetricComparison): string[] {
  const ratio = (r: MetricComparison['ratios'][number]) =>
    `    ratio ${r.label}: ${r.value.toFixed(2)} (median)` +
    (Number.isFinite(r.perProxyCpu) ? `, ${r.perProxyCpu.toFixed(2)} (per proxy CPU-second)` : '');
  return [
    `  ${m.metric}: ${m.what} (${m.unit})`,
    ...formatRows(metricRows(m), { lastLeft: false }).map((line) => `    ${line}`),
    ...m.ratios.map(ratio),
  ];
}

export function formatPaths(result: PathsResult): string {
  return [
    `${result.scenario}: ${result.description}`,
    `  pinned: ${result.pinning}`,
    ...result.metrics.flatMap(formatMetric),
    "  proxy CPU, backend CPU: share of one core each used (of it user: the proxy's share outside the kernel);",
    "  server core, client core: how busy their CPU was (every process and the kernel's packet work)",
    ...warningLines(result),
  ].join('\n');
}
