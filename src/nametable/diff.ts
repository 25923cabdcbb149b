// What changed between two tables, as plain data the controller sends to the agent (today from a
// worker thread, later over the xDS stream): an edit of one file sends the few names it changed, not
// the table.
import type { TableRecords, TableScope } from './build.js';
import { sameRecord, type TableChange } from './builder.js';
import type { TableRecord } from './entry.js';
import type { SearchWildcard, Slicer } from './table.js';

export interface TableDiff {
  /**
   * Exact names added or changed: wire key and the record. Across threads the records go as JSON
   * (packSet, as each part is sent: the whole table's JSON at once cost the sending thread 76 MiB at
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
  /** The rules that derive the names the table does not hold (derive.ts). */
  scope: TableScope;
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
  const diff: TableDiff = { set, remove, scope: after.scope };
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
    scope: records.scope,
  };
  if (change.wildcards) {
    diff.wildcards = [...records.wildcards];
    diff.searchWildcards = [...records.searchWildcards];
  }
  return diff;
}

/**
 * Names of a diff as they cross to another thread, in one string: for each name its wire key (which
 * ends at its only NUL), its record as JSON (which has no raw line feed), and a line feed. The
 * receiving thread keeps each key and record as a slice of this string: two small objects a name,
 * where separate strings made its young generation copy every record once more (a 35 ms pause at
 * 10,000 objects), and the string itself, past 128 KiB, is never copied by the collector at all.
 */
export type PackedSet = string;

export function packSet(set: TableDiff['set']): PackedSet {
  const out: string[] = [];
  for (const [key, r] of set) out.push(key, typeof r === 'string' ? r : JSON.stringify(r), '\n');
  return out.join('');
}

/** The name packed at `at`: where its key ends (past its NUL) and where its record ends (its line feed). */
export function packedNameAt(packed: PackedSet, at: number): [keyEnd: number, end: number] {
  const keyEnd = packed.indexOf('\x00', at) + 1;
  const end = packed.indexOf('\n', keyEnd);
  if (keyEnd === 0 || end === -1) throw new Error(`malformed packed name set at ${at}`);
  return [keyEnd, end];
}

/** The names of a packed set: wire key and record JSON, each a slice of `packed`. */
export function* unpackSet(packed: PackedSet): Generator<[string, string]> {
  for (let at = 0; at < packed.length; ) {
    const [keyEnd, end] = packedNameAt(packed, at);
    yield [packed.slice(at, keyEnd), packed.slice(keyEnd, end)];
    at = end + 1;
  }
}

/**
 * How long one slice of applying a table may hold a thread that answers DNS. A forwarded query waits
 * for two of the loop's I/O polls (its question read and sent upstream, then the reply read and
 * answered), so it waits up to two slices, and a slice overruns its budget by up to `checkEvery`
 * steps: at 4 ms, a name asked every 1 ms during a 10,000-object load went unanswered for 19-20 ms
 * (issue 8's target: < 20 ms); at 2 ms, 11-16 ms, and the table was in no later.
 */
export const APPLY_SLICE_MS = 2;

/**
 * A slicer that yields to the event loop after `budgetMs` of work, the clock read every `checkEvery`
 * operations (a power of two): 64 for small steps, 1 for steps of a millisecond (a snapshot's lines).
 */
export function timeSlicer(budgetMs: number, checkEvery = 64): Slicer {
  if (checkEvery < 1 || (checkEvery & (checkEvery - 1)) !== 0) {
    throw new RangeError(`timeSlicer: checkEvery ${checkEvery} is not a power of two`);
  }
  let start = performance.now();
  let ops = 0;
  const mask = checkEvery - 1;
  return {
    due: () => (++ops & mask) === 0 && performance.now() - start > budgetMs,
    pause: () =>
      new Promise<void>((resolve) =>
        setImmediate(() => {
          start = performance.now();
          resolve();
        }),
      ),
  };
}
