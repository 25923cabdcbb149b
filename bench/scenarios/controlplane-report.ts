// The controlplane scenario's table: one column per run, the median, and issue 10's target beside.
import { formatRows, warningLines } from '../lib/report.js';
import { median } from '../lib/stats.js';
import type { ChangeFigures, ControlPlaneRun } from './controlplane-run.js';
import { percentile } from './scale-report.js';
import type { ScenarioResult } from './scenario.js';

/** Issue 10 item 7. */
export const TARGETS = { changeP99Ms: 100, fullBuildMs: 1000 } as const;

export interface ControlPlaneResult extends ScenarioResult {
  runs: ControlPlaneRun[];
}

type Figure = {
  label: string;
  value: (r: ControlPlaneRun) => number | null;
  unit: string;
  target?: number;
  digits?: number;
};

const of = (r: ControlPlaneRun, scope?: ChangeFigures['scope']) =>
  r.changes.filter((c) => scope === undefined || c.scope === scope);
/** A percentile that falls on a change missed by its deadline. */
const MISSED = Number.POSITIVE_INFINITY;

/** Nearest rank over the changes; one that missed its deadline ranks above every other. */
const rank = (values: (number | null)[], p: number) =>
  values.length === 0 ? null : (percentile(values, p) ?? MISSED);

const lastP = (scope: ChangeFigures['scope'], p: number) => (r: ControlPlaneRun) =>
  rank(
    of(r, scope).map((c) => c.lastMs),
    p,
  );
const agentP = (p: number) => (r: ControlPlaneRun) =>
  percentile(
    of(r).flatMap((c) => c.agentMs),
    p,
  );
const realP = (p: number) => (r: ControlPlaneRun) =>
  rank(
    of(r).map((c) => c.realAgentMs),
    p,
  );
const sum = (r: ControlPlaneRun, f: (c: ChangeFigures) => number) => of(r).reduce((s, c) => s + f(c), 0);
const tableBytes = (r: ControlPlaneRun) => median(Object.values(r.tableBytes));

export const FIGURES: Figure[] = [
  { label: 'spawn → controller ready', value: (r) => r.readyMs, unit: 'ms' },
  {
    label: 'full build (first "tables built" buildMs)',
    value: (r) => r.firstBuildMs,
    unit: 'ms',
    target: TARGETS.fullBuildMs,
  },
  { label: 'spawn → first "tables built" line', value: (r) => r.firstBuildLineMs, unit: 'ms' },
  { label: 'agents launched → all first tables', value: (r) => r.allFirstTablesMs, unit: 'ms' },
  { label: 'spawn → all agents first tables', value: (r) => r.spawnToAllTablesMs, unit: 'ms' },
  { label: 'agents launched → all first VIP routes', value: (r) => r.allFirstRoutesMs, unit: 'ms' },
  { label: 'agents launched → real agent answers', value: (r) => r.realAgentFirstMs, unit: 'ms' },
  { label: 'controller RSS, agents served', value: (r) => r.rssMiB, unit: 'MiB' },
  { label: 'controller peak RSS until then', value: (r) => r.peakRssMiB, unit: 'MiB' },
  { label: 'controller V8 heap used, agents served', value: (r) => r.heapUsedMiB, unit: 'MiB' },
  { label: 'controller V8 external, agents served', value: (r) => r.externalMiB, unit: 'MiB' },
  { label: 'controller CPU, spawn → agents served', value: (r) => r.startCpuS, unit: 's', digits: 1 },
  { label: 'name table per view (median)', value: tableBytes, unit: 'KiB', digits: 1 },
  { label: 'change → last agent, exportTo * p50', value: lastP('all', 50), unit: 'ms' },
  {
    label: 'change → last agent, exportTo * p99',
    value: lastP('all', 99),
    unit: 'ms',
    target: TARGETS.changeP99Ms,
  },
  { label: 'change → last agent, one namespace p50', value: lastP('namespace', 50), unit: 'ms' },
  {
    label: 'change → last agent, one namespace p99',
    value: lastP('namespace', 99),
    unit: 'ms',
    target: TARGETS.changeP99Ms,
  },
  { label: 'change → each agent p50', value: agentP(50), unit: 'ms' },
  { label: 'change → each agent p99', value: agentP(99), unit: 'ms' },
  { label: 'change → applied in a real agent p50', value: realP(50), unit: 'ms' },
  { label: 'change → applied in a real agent p99', value: realP(99), unit: 'ms' },
  {
    label: 'controller buildMs per change (median)',
    value: (r) => median(of(r).flatMap((c) => c.buildMs)),
    unit: 'ms',
  },
  {
    label: 'controller CPU over the change loop',
    value: (r) => (100 * r.changeLoopCpuS) / r.changeLoopS,
    unit: '% core',
  },
  {
    label: 'controller CPU-seconds over the change loop',
    value: (r) => r.changeLoopCpuS,
    unit: 's',
    digits: 1,
  },
  {
    label: 'agents launcher CPU over the change loop',
    value: (r) => (100 * r.agentsCpuS) / r.changeLoopS,
    unit: '% core',
  },
  { label: '"tables built" before the change loop', value: (r) => r.buildsBeforeLoop, unit: '' },
  { label: '"tables built" in the change loop', value: (r) => sum(r, (c) => c.builds), unit: '' },
  {
    label: 'name-table pushes to agents not affected',
    value: (r) => sum(r, (c) => c.pushesToOthers),
    unit: '',
    target: 0,
  },
  { label: 'VIP-route pushes (all agents)', value: (r) => sum(r, (c) => c.routePushes), unit: '' },
  {
    label: 'changes not at every agent in time',
    value: (r) => of(r).filter((c) => c.lastMs === null).length,
    unit: '',
    target: 0,
  },
  {
    label: 'namespaces split over versions',
    value: (r) => sum(r, (c) => c.versionSplits),
    unit: '',
    target: 0,
  },
];

function cell(v: number | null, f: Figure): string {
  if (v === MISSED) return 'missed';
  if (v === null || Number.isNaN(v)) return '-';
  const shown = f.unit === 'KiB' ? v / 1024 : v;
  return shown.toFixed(f.digits ?? 0);
}

function verdict(v: number | null, f: Figure): string {
  if (f.target === undefined) return '';
  const goal = f.target === 0 ? '0' : `< ${f.target} ${f.unit}`;
  if (v === null || Number.isNaN(v)) return `target ${goal}`;
  const ok = f.target === 0 ? v === 0 : v < f.target;
  return `target ${goal}: ${ok ? 'met' : 'MISSED'}`;
}

export function formatControlPlane(result: ControlPlaneResult): string {
  const header = ['figure', ...result.runs.map((_, i) => `run ${i + 1}`), 'median', 'unit', 'vs target'];
  const rows = FIGURES.map((f) => {
    const values = result.runs.map(f.value);
    const present = values.filter((v): v is number => v !== null && !Number.isNaN(v));
    const m = present.length === values.length ? median(present) : null;
    return [f.label, ...values.map((v) => cell(v, f)), cell(m, f), f.unit, verdict(m, f)];
  });
  const s = result.setup as { source: string; size: Record<string, number>; agents: number; changes: number };
  return [
    `${result.scenario}: ${result.description}`,
    `  source ${s.source}; ${s.size.entries} ServiceEntries + ${s.size.services} Services in ${s.size.namespaces} namespaces; ` +
      `${s.agents} raw ADS agents + 1 real agent; ${s.changes} changes per run (even: exportTo *, odd: one namespace)`,
    ...formatRows([header, ...rows], { lastLeft: true }).map((l) => `  ${l}`),
    ...warningLines(result),
  ].join('\n');
}
