// Prints the coverage of src/ by folder, and its least covered files, from the json-summary c8 writes
// during `npm test`. One line per folder keeps the output short; c8's own text table has a line
// per file (130 of them). Files of only types are left out.
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ROOT } from '../helpers/meshdns.js';

interface Count {
  total: number;
  covered: number;
}
type FileSummary = Record<'lines' | 'branches' | 'functions', Count>;

const LEAST_COVERED = 8;
const file = `${ROOT}coverage/coverage-summary.json`;
const summary = JSON.parse(readFileSync(file, 'utf8')) as Record<string, FileSummary>;

const folders = new Map<string, FileSummary>();
const all = zero();
const files: { path: string; s: FileSummary }[] = [];
for (const [path, s] of Object.entries(summary)) {
  if (path === 'total') continue;
  const rel = relative(ROOT, path);
  if (typeOnly(rel)) continue;
  files.push({ path: rel, s });
  // src/dns/codec.ts counts under src/dns; src/defaults.ts under src.
  const folder = rel.split('/').slice(0, -1).slice(0, 2).join('/');
  const sum = folders.get(folder) ?? zero();
  add(sum, s);
  add(all, s);
  folders.set(folder, sum);
}

const pct = (c: Count) => (c.total === 0 ? '-' : `${((100 * c.covered) / c.total).toFixed(1)}%`);
const row = (name: string, s: FileSummary) =>
  `${name.padEnd(34)} ${pct(s.lines).padStart(7)} ${pct(s.branches).padStart(9)} ${pct(s.functions).padStart(10)}`;

const out = [
  `${'coverage of src/ (c8)'.padEnd(34)} ${'lines'.padStart(7)} ${'branches'.padStart(9)} ${'functions'.padStart(10)}`,
];
for (const [folder, s] of [...folders].sort(([a], [b]) => a.localeCompare(b))) out.push(row(folder, s));
out.push(row('all of src', all));
out.push('', `least covered files (lines; the per-line report: npx c8 report --reporter=text):`);
const ratio = (c: Count) => (c.total === 0 ? 1 : c.covered / c.total);
// Ties (files no test loads) list the biggest first.
files.sort((a, b) => ratio(a.s.lines) - ratio(b.s.lines) || b.s.lines.total - a.s.lines.total);
for (const { path, s } of files.slice(0, LEAST_COVERED)) out.push(row(path, s));
process.stdout.write(`${out.join('\n')}\n`);

/**
 * A file of only types compiles to `export {};`, which no test can run; c8 (with `all`) would list
 * it as uncovered.
 */
function typeOnly(rel: string): boolean {
  const js = `${ROOT}dist/${rel.replace(/\.ts$/, '.js')}`;
  if (!existsSync(js)) return false;
  const code = readFileSync(js, 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('//'))
    .join('')
    .trim();
  return code === 'export {};';
}

function add(sum: FileSummary, s: FileSummary): void {
  for (const k of ['lines', 'branches', 'functions'] as const) {
    sum[k].total += s[k].total;
    sum[k].covered += s[k].covered;
  }
}

function zero(): FileSummary {
  return {
    lines: { total: 0, covered: 0 },
    branches: { total: 0, covered: 0 },
    functions: { total: 0, covered: 0 },
  };
}
