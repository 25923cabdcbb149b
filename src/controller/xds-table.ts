// A workload view's table in Istio's NameTable layout: one entry per host, its aliases and search-path
// forms left to the agent (it knows its namespace and search domains). Kept up to date from the
// builder's changes, so an edit touches only the hosts it changed.
import type { TableChange, TableRecord, TableRecords } from '../nametable/index.js';
import type { XdsNameInfo } from '../xds/index.js';

const bare = (fqdn: string) => (fqdn.endsWith('.') ? fqdn.slice(0, -1) : fqdn);

export class XdsTableMirror {
  /** Host (no trailing dot) → info; the map handed to the encoder. */
  readonly table = new Map<string, XdsNameInfo>();
  /** Wire key → host, for the names of the table that are hosts (not aliases or search forms). */
  readonly #hostOfKey = new Map<string, string>();
  #wildHosts: string[] = [];
  readonly #svcSuffix: string;

  constructor(clusterDomain: string) {
    this.#svcSuffix = `.svc.${bare(clusterDomain)}`;
  }

  /** Follows one builder update; true when the table changed. */
  apply(change: TableChange, records: TableRecords): boolean {
    let changed = false;
    for (const key of change.remove) changed = this.#drop(key) || changed;
    for (const key of change.set) {
      const record = records.exact.get(key)!;
      if (record.kind === 'host' || record.kind === 'endpoint') {
        const host = bare(record.name);
        this.#hostOfKey.set(key, host);
        this.table.set(host, this.#info(host, record));
        changed = true;
      } else changed = this.#drop(key) || changed;
    }
    if (change.wildcards) {
      for (const host of this.#wildHosts) this.table.delete(host);
      this.#wildHosts = [];
      for (const record of records.wildcards.values()) {
        const host = bare(record.name);
        this.#wildHosts.push(host);
        this.table.set(host, this.#info(host, record));
      }
      changed = true;
    }
    return changed;
  }

  /** Everything in `records` (a fresh builder). */
  fill(records: TableRecords): void {
    this.apply({ set: [...records.exact.keys()], remove: [], wildcards: true }, records);
  }

  #drop(key: string): boolean {
    const host = this.#hostOfKey.get(key);
    if (host === undefined) return false;
    this.#hostOfKey.delete(key);
    this.table.delete(host);
    return true;
  }

  #info(host: string, r: TableRecord): XdsNameInfo {
    // The builder's origin text starts with the kind: "Service ns/name (...)".
    const kubernetes = r.origin.startsWith('Service ');
    const info: XdsNameInfo = {
      // An ExternalName keeps its target; the agent follows it through its own table.
      ips: r.cnames.length > 0 ? [] : [...r.ipv4, ...r.ipv6],
      registry: kubernetes ? 'Kubernetes' : 'External',
      altHosts: [],
      origin: r.origin,
    };
    if (r.cnames.length > 0) info.externalName = bare(r.cnames[0]!);
    // Istio's shortname/namespace: `name` and `ns` of name.ns.svc.<domain>, `pod.name` for a pod's name.
    if (kubernetes && host.endsWith(this.#svcSuffix)) {
      const prefix = host.slice(0, -this.#svcSuffix.length);
      const dot = prefix.lastIndexOf('.');
      if (dot > 0) {
        info.shortname = prefix.slice(0, dot);
        info.namespace = prefix.slice(dot + 1);
      }
    }
    return info;
  }
}
