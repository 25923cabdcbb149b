// `meshdns vips`: every ServiceEntry host, its auto-allocated VIPs and why it has them or not.
import { loadView } from '../controller/index.js';
import { printColumns, printErrors, printJson } from './output.js';
import { loadOptions, resolveWorkloadFlags, type WorkloadFlags } from './workload.js';

export interface VipsFlags extends WorkloadFlags {
  output: string;
}

export async function printVips(flags: VipsFlags): Promise<void> {
  const view = await loadView(loadOptions(resolveWorkloadFlags(flags), []));
  printErrors(view.errors);
  const rows = view.allocation.hosts.map((h) => ({
    host: h.host,
    entry: `${h.namespace}/${h.name}`,
    v4: h.v4 ?? null,
    v6: h.v6 ?? null,
    state: h.state,
    ...(h.from ? { from: h.from } : {}),
  }));
  if (flags.output === 'json') return printJson(rows);
  printColumns(
    ['HOST', 'ENTRY', 'V4', 'V6', 'STATE'],
    rows.map((r) => [r.host, r.entry, r.v4 ?? '-', r.v6 ?? '-', r.state]),
  );
}
