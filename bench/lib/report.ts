// The result table on stdout and the JSON file kept for later comparison.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ScenarioResult } from '../scenarios/scenario.js';
import type { Comparison } from './compare.js';

const int = (n: number) => Math.round(n).toLocaleString('en-US');

function rcodeSummary(rcodes: Record<string, number>): string {
  const total = Object.values(rcodes).reduce((a, b) => a + b, 0);
  if (total === 0) return 'none';
  return Object.entries(rcodes)
    .map(([code, n]) => `${code} ${((n / total) * 100).toFixed(n === total ? 0 : 2)}%`)
    .join(', ');
}

/** Aligned columns: the first (names) and, unless told otherwise, the last left-aligned, figures right-aligned. */
export function formatRows(rows: string[][], opts: { lastLeft?: boolean } = {}): string[] {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => r[col].length)));
  const left = (col: number, count: number) => col === 0 || (col === count - 1 && opts.lastLeft !== false);
  return rows.map((r) =>
    r
      .map((cell, col) => (left(col, r.length) ? cell.padEnd(widths[col]) : cell.padStart(widths[col])))
      .join('  ')
      .trimEnd(),
  );
}

/** One dnsperf comparison: a row per server, then the ratios; each line starts with `indent`. */
export function comparisonLines(c: Pick<Comparison, 'contenders' | 'ratios'>, indent = '  '): string[] {
  const runCount = Math.max(...c.contenders.map((x) => x.runs.length));
  const header = [
    'server',
    ...Array.from({ length: runCount }, (_, i) => `run ${i + 1}`),
    'median qps',
    'qps/server-CPU',
    'CPU µs/query',
    'server CPU',
    'client core',
    'avg latency',
    'lost',
    'rcodes',
  ];
  const rows = c.contenders.map((x) => {
    const rcodes: Record<string, number> = {};
    for (const r of x.runs)
      for (const [code, n] of Object.entries(r.rcodes)) rcodes[code] = (rcodes[code] ?? 0) + n;
    return [
      x.label,
      ...Array.from({ length: runCount }, (_, i) => (x.runs[i] ? int(x.runs[i].qps) : '')),
      int(x.medianQps),
      int(x.medianQpsPerServerCpu),
      (1e6 / x.medianQpsPerServerCpu).toFixed(1),
      `${Math.round(x.medianServerCpuShare * 100)}%`,
      Number.isNaN(x.medianClientCoreBusy) ? '-' : `${Math.round(x.medianClientCoreBusy * 100)}%`,
      `${x.medianAvgLatencyMs.toFixed(3)} ms`,
      int(x.runs.reduce((sum, r) => sum + r.lost, 0)),
      rcodeSummary(rcodes),
    ];
  });
  return [
    ...formatRows([header, ...rows]).map((line) => `${indent}${line}`),
    ...c.ratios.map(
      (r) =>
        `${indent}ratio ${r.label}: ${r.value.toFixed(2)} (median qps), ${r.perServerCpu.toFixed(2)} (per server CPU-second)`,
    ),
  ];
}

/** Every scenario's output ends with its warnings. */
export const warningLines = (result: ScenarioResult): string[] =>
  result.warnings.map((w) => `  WARNING ${w}`);

/** The dnsperf comparison of a DNS scenario (`table`, `table-metrics`). */
export function formatComparison(result: ScenarioResult & Comparison): string {
  return [
    `${result.scenario}: ${result.description}`,
    ...comparisonLines(result),
    ...warningLines(result),
  ].join('\n');
}

/** Writes `<dir>/<scenario>-<date>.json` and returns its path. */
export async function writeResult(
  dir: string,
  date: Date,
  payload: { result: ScenarioResult } & Record<string, unknown>,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const stamp = date
    .toISOString()
    .replace(/:/g, '-')
    .replace(/\.\d+Z$/, 'Z');
  const file = path.join(dir, `${payload.result.scenario}-${stamp}.json`);
  await writeFile(file, `${JSON.stringify(payload, null, 2)}\n`);
  return file;
}
