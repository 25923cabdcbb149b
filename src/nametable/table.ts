// The immutable lookup structure one workload answers from. Built off the hot path and swapped in
// by one reference assignment (STYLE.md "Build, then swap"). The exact names are split into shards so
// that a change of a few names copies a few small shards, never the whole table, on the thread that
// answers (issue 8: an edit must not stall answering at 100,000 objects).
import { fitsWire, keyToName, nameToKey, parentKey } from '../dns/index.js';
import type { TableRecords, TableScope } from './build.js';
import { Derivation, firstName } from './derive.js';
import { type PackedSet, packedNameAt, packSet, type TableDiff } from './diff.js';
import { type Rotation, TableEntry, type TableRecord } from './entry.js';

/** A wildcard reached through the search-domain shortcut: its CNAME target depends on the question. */
export interface SearchWildcard {
  record: TableRecord;
  /** The key of "<search domain>.", stripped from the question to get the CNAME target. */
  searchSuffixKey: string;
}

const SHARDS = 256;

/** The shard of a key: a hash of its length and first label, the part that tells names apart. */
function shardOf(key: string): number {
  return shardAt(key, 0, key.length);
}

/** shardOf of the key `text.slice(at, end)`, without the slice. */
function shardAt(text: string, at: number, end: number): number {
  let h = end - at;
  const stop = at + Math.min(end - at, text.charCodeAt(at) + 1, 32);
  for (let i = at + 1; i < stop; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 15)) & (SHARDS - 1);
}

/** Lets the event loop run between slices of a long table update. */
export interface Slicer {
  /** True when the current slice has used its time. */
  due(): boolean;
  /** Resolves on a later turn of the event loop, starting a new slice. */
  pause(): Promise<void>;
}

/**
 * A shard maps wire keys to entries. A name arrives as its record and becomes an entry (answers
 * encoded) the first time it is asked for: a table of 200,000 names is swapped in without encoding
 * 200,000 answers on the thread that answers, and names never asked cost no more than their record.
 */
type Shard = Map<string, TableEntry | TableRecord | string>;

/**
 * A shard whose names arrived packed (diff.ts) into a shard that was empty, the whole first table
 * among them: where each name starts in its packed part, made into the shard's map when one of them is
 * first asked for, once for every table that shares it. Until then a name costs the thread that
 * answers a place in an array, not two strings and a map entry (issue 8, 50,000 files of one object:
 * that thread's old generation 16 -> 10 MiB, RSS after load 273-276 -> 261-264 MiB; at 10,000 objects
 * its young generation stays at 8 MiB where it grew to 16). A diff names each key once, so `size` is
 * exact.
 */
class PackedShard {
  readonly size: number;
  #parts: readonly PackedSet[];
  /** Pairs: the index of a part in #parts, where the name starts in it. */
  #refs: number[];
  #map: Shard | undefined;

  constructor(parts: readonly PackedSet[], refs: number[]) {
    this.#parts = parts;
    this.#refs = refs;
    this.size = refs.length / 2;
  }

  get map(): Shard {
    if (this.#map !== undefined) return this.#map;
    const map: Shard = new Map();
    addPacked(map, this.#parts, this.#refs);
    this.#map = map;
    this.#parts = [];
    this.#refs = [];
    return map;
  }
}

type AnyShard = Shard | PackedShard;

/** The names `refs` point at (pairs: part, start), as unpackSet gives them, set into `map`. */
function addPacked(map: Shard, parts: readonly PackedSet[], refs: readonly number[]): void {
  for (let j = 0; j < refs.length; j += 2) {
    const packed = parts[refs[j]!]!;
    const at = refs[j + 1]!;
    const [keyEnd, end] = packedNameAt(packed, at);
    map.set(packed.slice(at, keyEnd), packed.slice(keyEnd, end));
  }
}

const mapOf = (shard: AnyShard): Shard => (shard instanceof PackedShard ? shard.map : shard);

/**
 * A search-path wildcard as the table holds it: one rotation for every name it answers, and the
 * entries of the names asked so far, so a name's answers are encoded once, not per query.
 */
interface HeldSearchWildcard extends SearchWildcard {
  rotation: Rotation;
  entries: Map<string, TableEntry>;
}

/** Names kept per search-path wildcard; past it the memo starts over (a flood of names costs encoding, not memory). */
const SEARCH_WILDCARD_NAMES = 1024;

function hold(sw: Iterable<[string, SearchWildcard]>): Map<string, HeldSearchWildcard> {
  return new Map([...sw].map(([k, w]) => [k, { ...w, rotation: { turn: 0 }, entries: new Map() }]));
}

/** Derived names whose entries a table keeps; past it the memo starts over. */
const DERIVED_NAMES = 4096;

/** A record as it arrived: as JSON from a diff (see TableDiff.set), or as itself from `fromRecords`. */
const recordOf = (e: TableEntry | TableRecord | string): TableRecord =>
  typeof e === 'string' ? (JSON.parse(e) as TableRecord) : e instanceof TableEntry ? e.record : e;

function entryOf(shard: Shard, key: string, hit: TableEntry | TableRecord | string): TableEntry {
  if (hit instanceof TableEntry) return hit;
  // Shards are shared between a table and the next; the entry is the same in both, so caching it
  // here is safe (and keeps the rotation of a name across swaps).
  const entry = new TableEntry(recordOf(hit));
  shard.set(key, entry);
  return entry;
}

export class NameTable {
  /** A packed shard is replaced by its map once asked (the array is this table's own). */
  private readonly shards: AnyShard[];
  private readonly wildcards: Map<string, TableEntry>;
  private readonly searchWildcards: Map<string, HeldSearchWildcard>;
  readonly #exactSize: number;
  /** The rules for the names the table answers without holding them; none for a table without a scope. */
  readonly #derive: Derivation | undefined;
  /** The scope those rules came from, for `toDiff`. */
  readonly #scope: TableScope | undefined;
  /** Entries of derived names asked so far (this table's own: a later table may derive them otherwise). */
  readonly #derived = new Map<string, TableEntry>();

  private constructor(
    shards: AnyShard[],
    wildcards: Map<string, TableEntry>,
    searchWildcards: Map<string, HeldSearchWildcard>,
    scope: TableScope | undefined,
  ) {
    this.shards = shards;
    this.wildcards = wildcards;
    this.searchWildcards = searchWildcards;
    this.#scope = scope;
    this.#derive = scope && new Derivation(scope);
    this.#exactSize = shards.reduce((n, s) => n + s.size, 0);
  }

  static empty(scope?: TableScope): NameTable {
    return new NameTable(
      Array.from({ length: SHARDS }, () => new Map()),
      new Map(),
      new Map(),
      scope,
    );
  }

  /** The whole table at once (one-shot commands, tests); the agent applies diffs with `withDiff`. */
  static fromRecords(records: TableRecords): NameTable {
    const shards: Shard[] = Array.from({ length: SHARDS }, () => new Map());
    for (const [key, r] of records.exact) shards[shardOf(key)]!.set(key, r);
    const wild = new Map([...records.wildcards].map(([k, r]) => [k, new TableEntry(r)]));
    return new NameTable(shards, wild, hold(records.searchWildcards), records.scope);
  }

  /** Names held (hosts and wildcards), not counting the aliases and shortcuts derived from them. */
  get size(): number {
    return this.#exactSize + this.wildcards.size + this.searchWildcards.size;
  }

  /**
   * Exact name first (a host, then an alias of one, then a search-path shortcut of either), then the
   * most specific wildcard covering at least one more label (SPEC §3.6).
   */
  lookup(qkey: string): TableEntry | undefined {
    const own = this.#own(qkey);
    if (own !== undefined) return own;
    if (this.#derive !== undefined) {
      let derived = this.#derived.get(qkey);
      if (derived === undefined) {
        derived = this.#derivedEntry(qkey);
        if (derived !== undefined) {
          if (this.#derived.size >= DERIVED_NAMES) this.#derived.clear();
          this.#derived.set(qkey, derived);
        }
      }
      if (derived !== undefined) return derived;
    }
    if (this.wildcards.size + this.searchWildcards.size === 0) return undefined;
    for (let k = parentKey(qkey); k !== undefined; k = parentKey(k)) {
      const wild = this.wildcards.get(k);
      if (wild !== undefined) return wild;
      const viaSearch = this.searchWildcards.get(k);
      if (viaSearch !== undefined) return searchWildcardEntry(viaSearch, qkey);
    }
    return undefined;
  }

  #own(key: string): TableEntry | undefined {
    const i = shardOf(key);
    let shard = this.shards[i]!;
    if (shard instanceof PackedShard) this.shards[i] = shard = shard.map;
    const hit = shard.get(key);
    return hit === undefined ? undefined : entryOf(shard, key, hit);
  }

  /** A host, or the alias of one (SPEC §3.8): of several hosts giving it, the first by name. */
  #base(key: string): TableEntry | undefined {
    const own = this.#own(key);
    if (own !== undefined) return own;
    let host: TableEntry | undefined;
    let more = false;
    for (const k of this.#derive!.aliasHostKeys(key)) {
      const e = this.#own(k);
      if (e === undefined) continue;
      more = host !== undefined;
      host = e;
    }
    if (host === undefined) return undefined;
    if (more) {
      const hosts = this.#derive!.aliasHostKeys(key).flatMap((k) => this.#own(k)?.record.name ?? []);
      host = this.#own(nameToKey(firstName(hosts)!))!;
    }
    return new TableEntry({ ...host.record, name: keyToName(key), kind: 'alias' }, undefined, host);
  }

  /** An alias, or "h.<search>." → CNAME "h." and its answers (SPEC §3.9); not memoised. */
  #derivedEntry(qkey: string): TableEntry | undefined {
    const alias = this.#base(qkey);
    if (alias !== undefined) return alias;
    const short = this.#derive!.shortcutTarget(qkey);
    const to = short === undefined ? undefined : this.#base(short);
    if (to === undefined) return undefined;
    const r = to.record;
    return new TableEntry({ ...r, name: keyToName(qkey), kind: 'search', cnames: [r.name, ...r.cnames] });
  }

  /** Every name with its answers and origin, derived ones too, sorted by name (for `meshdns table`). */
  records(): TableRecord[] {
    const all = this.shards.flatMap((s) => [...mapOf(s).values()].map(recordOf));
    if (this.#derive !== undefined) all.push(...this.#derivedRecords(all));
    all.push(...[...this.wildcards.values()].map((e) => e.record));
    all.push(...[...this.searchWildcards.values()].map((s) => s.record));
    return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * A new table with `diff` applied: the shards it touches are copied and changed, the others shared,
   * and unchanged names keep their entries (and their rotation). The work is done in slices, so the
   * event loop keeps answering from this table until the new one is swapped in. `packedAhead`: more of
   * `diff.set`, received in packed parts before it, applied first.
   */
  async withDiff(
    diff: TableDiff,
    slicer: Slicer,
    packedAhead: readonly PackedSet[] = [],
  ): Promise<NameTable> {
    // A shard is copied the first time the diff touches it; the others stay shared with this table.
    const shards = [...this.shards];
    const copied = new Set<number>();
    // Names of parts sent ahead bound for a shard that was empty: kept where they are (PackedShard).
    const refs = new Map<number, number[]>();
    const own = (i: number): Shard => {
      if (!copied.has(i)) {
        copied.add(i);
        const map = new Map(mapOf(shards[i]!));
        const packed = refs.get(i);
        if (packed !== undefined) addPacked(map, packedAhead, packed);
        refs.delete(i);
        shards[i] = map;
      }
      return shards[i] as Shard;
    };
    for (const key of diff.remove) {
      own(shardOf(key)).delete(key);
      if (slicer.due()) await slicer.pause();
    }
    // Parts sent ahead are read where they are, a name at a time: nothing is gathered first.
    for (const [p, packed] of packedAhead.entries()) {
      for (let at = 0; at < packed.length; ) {
        const [keyEnd, end] = packedNameAt(packed, at);
        const i = shardAt(packed, at, keyEnd);
        const old = shards[i]!;
        if (!copied.has(i) && old instanceof Map && old.size === 0) {
          const list = refs.get(i);
          if (list === undefined) refs.set(i, [p, at]);
          else list.push(p, at);
        } else own(i).set(packed.slice(at, keyEnd), packed.slice(keyEnd, end));
        at = end + 1;
        if (slicer.due()) await slicer.pause();
      }
    }
    for (const [key, r] of diff.set) {
      own(shardOf(key)).set(key, r);
      if (slicer.due()) await slicer.pause();
    }
    for (const [i, list] of refs) shards[i] = new PackedShard(packedAhead, list);
    const wild = diff.wildcards
      ? new Map(diff.wildcards.map(([k, r]) => [k, new TableEntry(r)]))
      : this.wildcards;
    const searchWild = diff.searchWildcards ? hold(diff.searchWildcards) : this.searchWildcards;
    return new NameTable(shards, wild, searchWild, diff.scope);
  }

  /**
   * The whole table as a diff from an empty one, its names packed in parts of `part` (a thread that
   * starts later, e.g. an answering worker, builds its copy from it); undefined for a table without a
   * scope. Reads what the shards hold as it is: names never asked for stay unencoded.
   */
  toDiff(part = 1000): { diff: TableDiff; packed: PackedSet[] } | undefined {
    if (this.#scope === undefined) return undefined;
    const packed: PackedSet[] = [];
    let set: TableDiff['set'] = [];
    for (const shard of this.shards) {
      for (const [key, e] of mapOf(shard)) {
        set.push([key, e instanceof TableEntry ? e.record : e]);
        if (set.length >= part) {
          packed.push(packSet(set));
          set = [];
        }
      }
    }
    if (set.length > 0) packed.push(packSet(set));
    const diff: TableDiff = {
      set: [],
      remove: [],
      wildcards: [...this.wildcards].map(([k, e]): [string, TableRecord] => [k, e.record]),
      searchWildcards: [...this.searchWildcards].map(([k, w]): [string, SearchWildcard] => [
        k,
        { record: w.record, searchSuffixKey: w.searchSuffixKey },
      ]),
      scope: this.#scope,
    };
    return { diff, packed };
  }

  /** The aliases of these hosts and the shortcuts of both, as lookup answers them. */
  #derivedRecords(hosts: readonly TableRecord[]): TableRecord[] {
    const derive = this.#derive!;
    const out: TableRecord[] = [];
    const seen = new Set<string>();
    const add = (name: string | undefined) => {
      if (name === undefined || !fitsWire(name)) return;
      const key = nameToKey(name);
      if (seen.has(key) || this.#own(key) !== undefined) return;
      seen.add(key);
      const e = this.#derivedEntry(key);
      if (e !== undefined) out.push(e.record);
    };
    for (const r of hosts) for (const alias of derive.aliasesOf(r.name)) add(alias);
    for (const r of [...hosts, ...out]) add(derive.shortcutOf(r.name));
    return out;
  }
}

/**
 * "foo.wiki.example.org.<search>." under "*.wiki.example.org": a CNAME to "foo.wiki.example.org."
 * followed by the wildcard's records, so the client's first search-path try resolves at once.
 */
function searchWildcardEntry(sw: HeldSearchWildcard, qkey: string): TableEntry {
  const known = sw.entries.get(qkey);
  if (known !== undefined) return known;
  const target = keyToName(`${qkey.slice(0, qkey.length - sw.searchSuffixKey.length)}\x00`);
  const record = { ...sw.record, name: keyToName(qkey), cnames: [target, ...sw.record.cnames] };
  const entry = new TableEntry(record, sw.rotation);
  if (sw.entries.size >= SEARCH_WILDCARD_NAMES) sw.entries.clear();
  sw.entries.set(qkey, entry);
  return entry;
}
