// What changed between two tables, as plain data the controller sends to the agent (today from a
// worker thread, later over the xDS stream): an edit of one file sends the few names it changed, not
// the table.
import type { TableRecords } from './build.js';
import { sameRecord, type TableChange } from './builder.js';
import type { TableRecord } from './entry.js';
import type { SearchWildcard, Slicer } from './table.js';

export interface TableDiff {
  /**
   * Exact names added or changed: wire key and the record. Across threads the record goes as JSON
   * (encodeSet, as each part is sent: the whole table's JSON at once cost the sending thread 76 MiB at
   * 50,000 objects). One string per name, not a record of arrays: the receiving thread holds hundreds
   * of thousands of these, and a string is one object for its garbage collector to mark (and is
   * decoded only when the name is first asked for).
   */
  set: [string, string | TableRecord][];
  /** Exact names gone. */
  remove: string[];
  /** Every wildcard, when any changed (they are few). */
  wildcards?: [string, TableRecord][];
  searchWildcards?: [string, SearchWildcard][];
}

function sameMap<T>(a: Map<string, T>, b: Map<string, T>, same: (x: T, y: T) => boolean): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || !same(v, w)) return false;
  }
  return true;
}

/** The diff that turns `before` (nothing: an empty table) into `after`. */
export function diffTables(before: TableRecords | undefined, after: TableRecords): TableDiff {
  const set: TableDiff['set'] = [];
  const remove: string[] = [];
  for (const [key, r] of after.exact) {
    const old = before?.exact.get(key);
    if (old === undefined || !sameRecord(old, r)) set.push([key, r]);
  }
  if (before) {
    for (const key of before.exact.keys()) if (!after.exact.has(key)) remove.push(key);
  }
  const diff: TableDiff = { set, remove };
  if (!before || !sameMap(before.wildcards, after.wildcards, sameRecord))
    diff.wildcards = [...after.wildcards];
  const sameSearch = (x: SearchWildcard, y: SearchWildcard) =>
    x.searchSuffixKey === y.searchSuffixKey && sameRecord(x.record, y.record);
  if (!before || !sameMap(before.searchWildcards, after.searchWildcards, sameSearch))
    diff.searchWildcards = [...after.searchWildcards];
  return diff;
}

/** What a builder's `update` changed, as the diff that applies it to the table built before. */
export function changeToDiff(change: TableChange, records: TableRecords): TableDiff {
  const diff: TableDiff = {
    set: change.set.map((key) => [key, records.exact.get(key)!]),
    remove: change.remove,
  };
  if (change.wildcards) {
    diff.wildcards = [...records.wildcards];
    diff.searchWildcards = [...records.searchWildcards];
  }
  return diff;
}

/** The names of a diff as they cross to another thread: each record as JSON. */
export function encodeSet(set: TableDiff['set']): [string, string][] {
  return set.map(([key, r]) => [key, typeof r === 'string' ? r : JSON.stringify(r)]);
}

/** A slicer that yields to the event loop after `budgetMs` of work (checked every few operations). */
export function timeSlicer(budgetMs: number): Slicer {
  let start = performance.now();
  let ops = 0;
  return {
    due: () => (++ops & 63) === 0 && performance.now() - start > budgetMs,
    pause: () =>
      new Promise<void>((resolve) =>
        setImmediate(() => {
          start = performance.now();
          resolve();
        }),
      ),
  };
}
