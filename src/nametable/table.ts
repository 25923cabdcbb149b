// The immutable lookup structure one workload answers from. Built off the hot path and swapped in
// by one reference assignment (STYLE.md "Build, then swap").
import { keyToName, parentKey } from '../dns/index.js';
import { TableEntry, type TableRecord } from './entry.js';

/** A wildcard reached through the search-domain shortcut: its CNAME target depends on the question. */
export interface SearchWildcard {
  record: TableRecord;
  /** The key of "<search domain>.", stripped from the question to get the CNAME target. */
  searchSuffixKey: string;
}

export class NameTable {
  private readonly exact: Map<string, TableEntry>;
  private readonly wildcards: Map<string, TableEntry>;
  private readonly searchWildcards: Map<string, SearchWildcard>;

  constructor(
    exact: Map<string, TableEntry>,
    wildcards: Map<string, TableEntry>,
    searchWildcards: Map<string, SearchWildcard>,
  ) {
    this.exact = exact;
    this.wildcards = wildcards;
    this.searchWildcards = searchWildcards;
  }

  static empty(): NameTable {
    return new NameTable(new Map(), new Map(), new Map());
  }

  get size(): number {
    return this.exact.size + this.wildcards.size + this.searchWildcards.size;
  }

  /** Exact name first, then the most specific wildcard covering at least one more label (SPEC §3.6). */
  lookup(qkey: string): TableEntry | undefined {
    const hit = this.exact.get(qkey);
    if (hit !== undefined || this.wildcards.size + this.searchWildcards.size === 0) return hit;
    for (let k = parentKey(qkey); k !== undefined; k = parentKey(k)) {
      const wild = this.wildcards.get(k);
      if (wild !== undefined) return wild;
      const viaSearch = this.searchWildcards.get(k);
      if (viaSearch !== undefined) return searchWildcardEntry(viaSearch, qkey);
    }
    return undefined;
  }

  /** Every key with its answers and origin, sorted by name (for `meshdns table`). */
  records(): TableRecord[] {
    const all = [...this.exact.values(), ...this.wildcards.values()].map((e) => e.record);
    all.push(...[...this.searchWildcards.values()].map((s) => s.record));
    return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

/**
 * "foo.wiki.example.org.<search>." under "*.wiki.example.org": a CNAME to "foo.wiki.example.org."
 * followed by the wildcard's records, so the client's first search-path try resolves at once.
 */
function searchWildcardEntry(sw: SearchWildcard, qkey: string): TableEntry {
  const target = keyToName(`${qkey.slice(0, qkey.length - sw.searchSuffixKey.length)}\x00`);
  return new TableEntry({ ...sw.record, name: keyToName(qkey), cnames: [target, ...sw.record.cnames] });
}
