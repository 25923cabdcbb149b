// Builds one workload's name table from the resources (SPEC §3), the way istiod builds the
// NameTable it sends to each proxy and istio-agent expands it into its lookup table. The rules
// live in builder.ts, which also keeps a table up to date one change at a time.
import type { Resources, ServiceEntry } from '../model/index.js';
import { TableBuilder } from './builder.js';
import type { TableRecord } from './entry.js';
import { NameTable, type SearchWildcard } from './table.js';

/** What about the workload shapes its table. */
export interface TableScope {
  /** The workload's namespace: decides `name.` aliases and ServiceEntry visibility. */
  namespace: string;
  /** Cluster domain, `cluster.local` by default. */
  clusterDomain: string;
  /** resolv.conf search domains; the first one gets the search-path shortcut (SPEC §3.9). */
  searchDomains: string[];
  /**
   * Hosts only, no short aliases: a controller's NameTable, whose agents derive the aliases for their
   * own namespace (their records for hosts are the same either way).
   */
  hostsOnly?: boolean;
}

/** Auto-allocated VIPs of a ServiceEntry host (SPEC §5); absent when the workload has auto-allocation off. */
export type VipLookup = (entry: ServiceEntry, host: string) => { v4?: string; v6?: string } | undefined;

/** Whether each name asked under the wildcard `host` of `entry` gets a VIP of its own (issue 14 item 5). */
export type PerNameRule = (entry: ServiceEntry, host: string) => boolean;

/**
 * A table as plain data, keyed by wire key: what the controller computes (off the thread that answers)
 * and sends; `NameTable.fromRecords` turns it into answers with precomputed wire bytes.
 */
export interface TableRecords {
  /** Hosts by wire key; their aliases and search-path shortcuts follow from `scope` (derive.ts). */
  exact: Map<string, TableRecord>;
  wildcards: Map<string, TableRecord>;
  searchWildcards: Map<string, SearchWildcard>;
  scope: TableScope;
}

export function buildNameTable(
  res: Resources,
  scope: TableScope,
  vips?: VipLookup,
  perName?: PerNameRule,
): NameTable {
  return NameTable.fromRecords(buildTableRecords(res, scope, vips, perName));
}

/** Every resource that gives names, in snapshot order. */
export function nameGivers(res: Resources): Iterable<Resources[keyof Resources][number]> {
  return [...res.services, ...res.endpoints, ...res.serviceEntries];
}

export function buildTableRecords(
  res: Resources,
  scope: TableScope,
  vips?: VipLookup,
  perName?: PerNameRule,
): TableRecords {
  const builder = new TableBuilder(scope, vips, perName);
  builder.update({ added: nameGivers(res) });
  return builder.records;
}
