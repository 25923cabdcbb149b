// `meshdns table`: the name table a workload would get, with where each name came from.
import { loadView } from '../controller/index.js';
import type { TableRecord } from '../nametable/index.js';
import { readResolvConf } from '../upstream/index.js';
import { parseDomain } from './flags.js';
import { printColumns, printErrors, printJson } from './output.js';
import { loadOptions, resolveWorkloadFlags, type WorkloadFlags } from './workload.js';

export interface TableFlags extends WorkloadFlags {
  resolvConf: string;
  search?: string[];
  output: string;
}

function answerText(r: TableRecord): string {
  const parts = [...r.cnames.map((c) => `CNAME ${c}`), ...r.ipv4, ...r.ipv6];
  return parts.join(', ');
}

export async function printTable(flags: TableFlags): Promise<void> {
  const setup = resolveWorkloadFlags(flags);
  const search =
    flags.search ??
    (await readResolvConf(flags.resolvConf)
      .then((c) => c.search)
      .catch(() => [] as string[]));
  const view = await loadView(
    loadOptions(
      setup,
      search.map((d) => parseDomain('--search', d)),
    ),
  );
  printErrors(view.errors);
  if (!view.config.capture.value) {
    process.stderr.write(`meshdns: DNS capture is off for this workload (${view.config.capture.detail})\n`);
  }
  const records = view.table.records();
  if (flags.output === 'json') return printJson(records);
  printColumns(
    ['NAME', 'KIND', 'ANSWER', 'ORIGIN'],
    records.map((r) => [r.name, r.kind, answerText(r), r.origin]),
  );
}
