// `meshdns config`: a workload's effective DNS_CAPTURE and DNS_AUTO_ALLOCATE, and where each came from.
import { loadView } from '../controller/index.js';
import { DNS_AUTO_ALLOCATE, DNS_CAPTURE, formatSource, type Setting } from '../model/index.js';
import { printColumns, printErrors, printJson } from './output.js';
import { loadOptions, resolveWorkloadFlags, type WorkloadFlags } from './workload.js';

export interface ConfigFlags extends WorkloadFlags {
  output: string;
}

export async function printConfig(flags: ConfigFlags): Promise<void> {
  const view = await loadView(loadOptions(resolveWorkloadFlags(flags), []));
  printErrors(view.errors);
  const { workload, capture, autoAllocate } = view.config;
  const settings: [string, string, Setting][] = [
    ['DNS_CAPTURE', DNS_CAPTURE, capture],
    ['DNS_AUTO_ALLOCATE', DNS_AUTO_ALLOCATE, autoAllocate],
  ];
  if (flags.output === 'json') {
    return printJson({
      workload: workload && {
        kind: workload.kind,
        namespace: workload.meta.namespace,
        name: workload.meta.name,
        source: formatSource(workload.source),
      },
      settings: settings.map(([name, key, s]) => ({
        name,
        key,
        value: s.value,
        origin: s.origin,
        detail: s.detail,
      })),
    });
  }
  printColumns(
    ['SETTING', 'VALUE', 'FROM', 'SOURCE'],
    settings.map(([name, , s]) => [name, s.value ? 'on' : 'off', s.origin, s.detail]),
  );
}
