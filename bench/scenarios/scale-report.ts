// The scale scenario's table: one block per size, a row per figure with its target beside it and a
// column per layout; ✓/✗ mark each figure against its target.
import { formatRows, warningLines } from '../lib/report.js';
import type { ScaleResult } from './scale.js';
import type { ScaleRun } from './scale-run.js';

/** Issue 8's targets for one size; absent: none stated for that size. */
export interface ScaleTargets {
  firstAnswerMs: number;
  stallMs: number;
  fullTableMs?: number;
  editMs?: number;
  rssMiB?: number;
}

const LAYOUT_TITLES: Record<string, string> = {
  '100-files': '100 files',
  'per-object': 'one file per object',
};

/** Queries the load-time probe must have sent for its silence to mean anything. */
const MIN_PROBES = 10;

const int = (n: number) => Math.round(n).toLocaleString('en-US');

function duration(ms: number): string {
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** Nearest-rank percentile; a missed edit (null) ranks above every answered one. */
export function percentile(values: readonly (number | null)[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = values.map((v) => v ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const v = sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
  return Number.isFinite(v) ? v : null;
}

const maxOf = (values: readonly (number | null)[]): number | null => {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : Math.max(...known);
};

interface Row {
  label: string;
  /** The figure of a run; null: not measured (the run stopped, or the deadline passed). */
  value: (r: ScaleRun) => number | null;
  show: (v: number) => string;
  target?: number;
  showTarget?: (t: number) => string;
  /** What a null shows, e.g. "> 300 s". */
  missing?: string;
}

function cell(row: Row, r: ScaleRun): string {
  const v = row.value(r);
  const text = v === null ? (row.missing ?? '-') : row.show(v);
  // A figure that could not be told ("-") is neither met nor missed; one past a deadline is missed.
  if (row.target === undefined || (v === null && row.missing === undefined)) return text;
  return `${text} ${v !== null && v < row.target ? '✓' : '✗'}`;
}

function rows(t: ScaleTargets, edits: number, deadlineS: number, editDeadlineS: number): Row[] {
  const ms = { show: duration, showTarget: (x: number) => `< ${duration(x)}` };
  const mib = { show: (v: number) => `${int(v)} MiB`, showTarget: (x: number) => `< ${int(x)} MiB` };
  const late = `> ${deadlineS} s`;
  const editLate = `> ${editDeadlineS} s`;
  return [
    {
      label: 'first answer (forwarded)',
      value: (r) => r.firstAnswerMs,
      ...ms,
      target: t.firstAnswerMs,
      missing: late,
    },
    {
      label: 'full table (last names, AA)',
      value: (r) => r.fullTableMs,
      ...ms,
      target: t.fullTableMs,
      missing: late,
    },
    {
      label: 'CPU to full table, controller',
      value: (r) => (r.fullTableCpuControllerS === null ? null : r.fullTableCpuControllerS * 1000),
      ...ms,
    },
    {
      label: 'CPU to full table, process',
      value: (r) => (r.fullTableCpuS === null ? null : r.fullTableCpuS * 1000),
      ...ms,
    },
    { label: '/healthz/ready', value: (r) => r.readyMs, ...ms, missing: late },
    {
      label: 'longest silence, load (1 ms probe)',
      // "-" when the full table came within a few ms of the first answer: nothing to tell.
      value: (r) => (r.loadSilence && r.loadSilence.sent >= MIN_PROBES ? r.loadSilence.longestGapMs : null),
      ...ms,
      target: t.stallMs,
    },
    { label: 'RSS after load', value: (r) => r.rssAfterLoadMiB, ...mib, target: t.rssMiB },
    { label: 'peak RSS, load', value: (r) => r.peakRssLoadMiB, ...mib, target: t.rssMiB },
    { label: `peak RSS, ${edits} edits`, value: (r) => r.peakRssEditsMiB, ...mib, target: t.rssMiB },
    // Not the figures: what the rescans cost once nothing happens.
    {
      label: 'idle: CPU, 10 s (rescans)',
      value: (r) => r.idleCpuPercent ?? null,
      show: (v: number) => `${v.toFixed(1)} %`,
    },
    { label: 'idle: RSS after 10 s', value: (r) => r.idleRssMiB ?? null, ...mib },
    {
      label: 'edit-to-answer p50',
      value: (r) => percentile(r.editMs, 50),
      ...ms,
      target: t.editMs,
      missing: editLate,
    },
    {
      label: 'edit-to-answer p99',
      value: (r) => percentile(r.editMs, 99),
      ...ms,
      target: t.editMs,
      missing: editLate,
    },
    {
      label: `edits answered (of ${edits})`,
      value: (r) => r.editMs.filter((v) => v !== null).length,
      show: int,
    },
    { label: 'longest stall inside, load', value: (r) => r.loadStallMs, ...ms, target: t.stallMs },
    {
      label: 'longest stall inside, edits',
      value: (r) => maxOf(r.editStallMs),
      ...ms,
      target: t.stallMs,
      missing: '?',
    },
    {
      label: 'longest silence, edits (1 ms probe)',
      value: (r) => r.editSilence?.longestGapMs ?? null,
      ...ms,
      target: t.stallMs,
    },
    // Not the figures (it asks for a start on a folder): what a restart costs with the snapshot.
    { label: 'restart: first answer', value: (r) => r.restartFirstAnswerMs, ...ms },
    { label: 'restart: full table (snapshot)', value: (r) => r.restartFullTableMs, ...ms },
    { label: 'restart: longest stall inside', value: (r) => r.restartStallMs ?? null, ...ms },
  ];
}

function sizeBlock(runs: ScaleResult['runs'], result: ScaleResult): string[] {
  const first = runs[0];
  const setup = result.setup as { edits: number; deadlineSeconds: number; editDeadlineSeconds: number };
  const vips = Math.floor(first.entries / 2);
  const header = [
    'figure',
    'target',
    ...runs.map((r) => `${LAYOUT_TITLES[r.layout] ?? r.layout} (${int(r.files)})`),
  ];
  const body = rows(first.targets, setup.edits, setup.deadlineSeconds, setup.editDeadlineSeconds).map(
    (row) => [
      row.label,
      row.target === undefined || !row.showTarget ? '' : row.showTarget(row.target),
      ...runs.map((r) => cell(row, r)),
    ],
  );
  return [
    `  ${int(first.size)}: ${int(first.services)} Services, ${int(first.entries)} ServiceEntries (${int(vips)} with VIPs)`,
    ...formatRows([header, ...body], { lastLeft: false }).map((line) => `    ${line}`),
  ];
}

export function formatScale(result: ScaleResult): string {
  const sizes = [...new Set(result.runs.map((r) => r.size))];
  return [
    `${result.scenario}: ${result.description}`,
    '  (columns: layout (files); times from spawn; inside = nodejs_eventloop_lag_max_seconds, outside = a name asked every 1 ms)',
    ...sizes.flatMap((n) =>
      sizeBlock(
        result.runs.filter((r) => r.size === n),
        result,
      ),
    ),
    ...warningLines(result),
  ].join('\n');
}
