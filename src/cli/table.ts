// `meshdns table`: the name table a workload would get, with where each name came from.
import { buildNameTable, type TableRecord } from '../nametable/index.js';
import { loadManifests } from '../sources/index.js';
import { readResolvConf } from '../upstream/index.js';
import { parseDomain } from './flags.js';

export interface TableFlags {
  manifests: string;
  namespace: string;
  clusterDomain: string;
  resolvConf: string;
  search?: string[];
  output: string;
}

function answerText(r: TableRecord): string {
  const parts = [...r.cnames.map((c) => `CNAME ${c}`), ...r.ipv4, ...r.ipv6];
  return parts.join(', ');
}

export async function printTable(flags: TableFlags): Promise<void> {
  const namespace = parseDomain('--namespace', flags.namespace);
  const clusterDomain = parseDomain('--cluster-domain', flags.clusterDomain);
  const search =
    flags.search ??
    (await readResolvConf(flags.resolvConf)
      .then((c) => c.search)
      .catch(() => [] as string[]));
  const { resources, errors } = await loadManifests(flags.manifests);
  for (const e of errors) process.stderr.write(`${e.code}: ${e.message}\n`);
  const table = buildNameTable(resources, {
    namespace,
    clusterDomain,
    searchDomains: search.map((d) => parseDomain('--search', d)),
  });
  const records = table.records();
  if (flags.output === 'json') {
    process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
    return;
  }
  const rows = records.map((r) => [r.name, r.kind, answerText(r), r.origin]);
  const head = ['NAME', 'KIND', 'ANSWER', 'ORIGIN'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  for (const row of [head, ...rows]) {
    process.stdout.write(
      `${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}\n`,
    );
  }
}
