// The agent's table from the controller's name tables. A NameTable names each host once (Istio's
// layout); the agent derives the rest itself, as istio-agent does: the short forms of Kubernetes names
// for its own namespace and the search-path shortcuts for its own search domains. A delta update names
// the hosts it set and removed; a whole table is compared host by host with the one before. Either way a
// change of one entry rebuilds only that entry's names.
import {
  changeToDiff,
  diffTables,
  type GivenHost,
  TableBuilder,
  type TableDiff,
  type TableRecords,
  type TableScope,
} from '../nametable/index.js';
import type { XdsNameInfo, XdsNameTable } from './types.js';

export class AgentNameTable {
  #builder: TableBuilder;
  #scope: TableScope;
  readonly #last = new Map<string, XdsNameInfo>();

  constructor(scope: TableScope) {
    this.#scope = scope;
    this.#builder = new TableBuilder(scope);
  }

  /** The table as data, as a builder with this scope would make it from the resources themselves. */
  get records(): TableRecords {
    return this.#builder.records;
  }

  get scope(): TableScope {
    return this.#scope;
  }

  /** The hosts held now, as the controller sent them. */
  get table(): XdsNameTable {
    return this.#last;
  }

  /** Takes a whole new table; returns how the answering table changes. */
  update(table: XdsNameTable): TableDiff {
    const removed = [...this.#last.keys()].filter((host) => !table.has(host));
    return this.applyDelta([...table], removed);
  }

  /** Takes the hosts an update set and removed (delta xDS); unchanged ones cost nothing. */
  applyDelta(set: Iterable<[string, XdsNameInfo]>, removed: Iterable<string>): TableDiff {
    const hosts: [string, GivenHost | undefined][] = [];
    for (const host of removed) {
      if (this.#last.delete(host)) hosts.push([host, undefined]);
    }
    for (const [host, info] of set) {
      const before = this.#last.get(host);
      if (before !== undefined && sameInfo(before, info)) continue;
      this.#last.set(host, info);
      hosts.push([host, givenHost(host, info)]);
    }
    return changeToDiff(this.#builder.update({ hosts }), this.#builder.records);
  }

  /**
   * New search domains (SIGHUP) change the names derived from every host: the table is rebuilt whole,
   * and the diff from the old one returned.
   */
  rescope(scope: TableScope): TableDiff {
    const before = this.#builder.records;
    this.#scope = scope;
    this.#builder = new TableBuilder(scope);
    const last = [...this.#last];
    this.#last.clear();
    this.applyDelta(last, []);
    return diffTables(before, this.#builder.records);
  }
}

function givenHost(host: string, info: XdsNameInfo): GivenHost {
  const kubernetes = info.registry === 'Kubernetes';
  const given: GivenHost = {
    // Istio names a headless Service's pod `pod.svc` in shortname.
    kind: kubernetes && info.shortname?.includes('.') ? 'endpoint' : 'host',
    ips: info.ips,
    origin: info.origin ?? `${kubernetes ? 'Service' : 'ServiceEntry'} ${host} (from the controller)`,
  };
  if (info.externalName !== undefined) given.external = info.externalName;
  // Per-name VIPs (issue 14 item 5): the agent asks for a name under such a wildcard (PerNameVips).
  if (info.perNameWildcard) given.kind = 'per-name';
  if (info.perNameOf !== undefined) given.perName = info.perNameOf;
  return given;
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

function sameInfo(a: XdsNameInfo, b: XdsNameInfo): boolean {
  return (
    a.registry === b.registry &&
    a.externalName === b.externalName &&
    a.origin === b.origin &&
    a.shortname === b.shortname &&
    a.namespace === b.namespace &&
    a.perNameWildcard === b.perNameWildcard &&
    a.perNameOf === b.perNameOf &&
    sameList(a.ips, b.ips)
  );
}
