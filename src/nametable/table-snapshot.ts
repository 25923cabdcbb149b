// A name table as a restart's snapshot keeps it (issue 14 item 3): the whole table as a diff from an
// empty one (NameTable.toDiff), its names packed. Read back, every name is checked before the table is
// built, since a name's record is otherwise decoded only when first asked for, on the answering path.
import { isIPv4, isIPv6 } from 'node:net';
import { fitsWire, nameToKey } from '../dns/index.js';
import type { TableScope } from './build.js';
import { type PackedSet, type TableDiff, unpackSet } from './diff.js';
import type { EntryKind, TableRecord } from './entry.js';
import { NameTable, type Slicer } from './table.js';

export interface TableSnapshot {
  diff: TableDiff;
  packed: PackedSet[];
}

const KINDS = new Set<EntryKind>(['host', 'alias', 'search', 'wildcard', 'per-name', 'endpoint']);

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** What is wrong with `r` as a table record, or undefined. */
function recordProblem(r: unknown): string | undefined {
  if (!isObject(r)) return 'not an object';
  if (typeof r.name !== 'string' || !fitsWire(r.name)) return 'name is not a domain name';
  if (!KINDS.has(r.kind as EntryKind)) return `${r.name}: kind ${JSON.stringify(r.kind)}`;
  if (!isStrings(r.cnames) || !r.cnames.every(fitsWire)) return `${r.name}: cnames`;
  if (!isStrings(r.ipv4) || !r.ipv4.every((ip) => isIPv4(ip))) return `${r.name}: ipv4`;
  if (!isStrings(r.ipv6) || !r.ipv6.every((ip) => isIPv6(ip))) return `${r.name}: ipv6`;
  if (r.external !== undefined && (typeof r.external !== 'string' || !fitsWire(r.external)))
    return `${r.name}: external`;
  if (typeof r.origin !== 'string') return `${r.name}: origin`;
  if (r.perName !== undefined && (typeof r.perName !== 'string' || !r.perName.startsWith('*.')))
    return `${r.name}: perName`;
  return undefined;
}

function scopeProblem(s: unknown): string | undefined {
  if (!isObject(s)) return 'scope is not an object';
  const ok =
    typeof s.namespace === 'string' &&
    typeof s.clusterDomain === 'string' &&
    isStrings(s.searchDomains) &&
    (s.hostsOnly === undefined || typeof s.hostsOnly === 'boolean');
  return ok ? undefined : 'scope';
}

/** Keyed records, [key, record][]: what is wrong with the first bad one. */
function pairsProblem(pairs: unknown, what: string, record: (v: unknown) => unknown): string | undefined {
  if (pairs === undefined) return undefined;
  if (!Array.isArray(pairs)) return `${what} is not a list`;
  for (const p of pairs) {
    if (!Array.isArray(p) || typeof p[0] !== 'string') return `${what}: not a [key, record] pair`;
    const why = recordProblem(record(p[1]));
    if (why !== undefined) return `${what}: ${why}`;
  }
  return undefined;
}

/**
 * The packed names, each record parsed and checked, its key that of its name. In slices: 50,000 names
 * take 80 ms to check, on the thread that answers while a restarted agent loads its snapshot.
 */
async function packedProblem(packed: unknown, slicer?: Slicer): Promise<string | undefined> {
  if (!isStrings(packed)) return 'names are not a list of packed parts';
  for (const part of packed) {
    try {
      for (const [key, json] of unpackSet(part)) {
        if (slicer?.due()) await slicer.pause();
        const r = JSON.parse(json) as unknown;
        const why = recordProblem(r);
        if (why !== undefined) return why;
        if (nameToKey((r as TableRecord).name) !== key) return `${(r as TableRecord).name}: key`;
      }
    } catch (err) {
      return (err as Error).message;
    }
  }
  return undefined;
}

/** What is wrong with a snapshot's table, or undefined when it can be built; checked in `slicer`'s slices. */
export async function tableSnapshotProblem(t: unknown, slicer?: Slicer): Promise<string | undefined> {
  if (!isObject(t) || !isObject(t.diff)) return 'not a table';
  const d = t.diff;
  if (!Array.isArray(d.set) || d.set.length > 0 || !Array.isArray(d.remove) || d.remove.length > 0)
    return 'not a whole table';
  const problem =
    scopeProblem(d.scope) ??
    pairsProblem(d.wildcards, 'wildcards', (r) => r) ??
    pairsProblem(d.searchWildcards, 'search wildcards', (w) => (isObject(w) ? w.record : w)) ??
    (d.searchWildcards !== undefined &&
    !(d.searchWildcards as unknown[][]).every(
      (p) => isObject(p[1]) && typeof p[1].searchSuffixKey === 'string',
    )
      ? 'search wildcards: suffix'
      : undefined);
  return problem ?? packedProblem(t.packed, slicer);
}

/** The table of a snapshot tableSnapshotProblem found sound, built in slices. */
export function restoreTable(t: TableSnapshot, slicer: Slicer): Promise<NameTable> {
  return NameTable.empty(t.diff.scope as TableScope).withDiff(t.diff, slicer, t.packed);
}
