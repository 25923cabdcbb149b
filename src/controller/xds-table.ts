// A workload view's table in Istio's NameTable layout: one entry per host, its aliases and search-path
// forms left to the agent (it knows its namespace and search domains). Kept up to date from the
// builder's changes, and kept encoded: each host's entry is encoded when it changes, and the table is
// the concatenation of its entries (protobuf messages concatenate into their merge), so an edit of one
// host costs one entry's encoding, not the table's. Views mostly hold the same entries (they differ
// only where `exportTo` does), so encoded entries are shared between them (EntryCache). The version is
// a digest of the content that does not depend on the order the entries came in: every replica names
// the same table the same way.
import type { TableChange, TableRecord, TableRecords } from '../nametable/index.js';
import {
  DigestSum,
  digestHex,
  encodeNameEntry,
  NAME_TABLE_TYPE_URL,
  nameTableOfEntries,
  partDigest,
  type XdsNameInfo,
  type XdsResource,
} from '../xds/index.js';

const bare = (fqdn: string) => (fqdn.endsWith('.') ? fqdn.slice(0, -1) : fqdn);

/** One host's encoded entry, shared by the views that hold the same content for it. */
interface Entry {
  host: string;
  key: string;
  bytes: Uint8Array;
  digest: [number, number];
  /** The host's delta xDS resource and its version (the digest in hex), made once for every view. */
  resource: XdsResource;
  version: string;
  users: number;
}

/** Where a mirror puts each host's resource as it changes (the view's publisher, delta xDS). */
export interface NamedSink {
  set(name: string, resource: XdsResource, version: string): void;
  remove(name: string): void;
}

/** What decides a host's entry: its record's content (the host and cluster domain are fixed per cache). */
function contentKey(r: TableRecord): string {
  return `${r.kind}|${r.origin}|${r.ipv4.join(',')}|${r.ipv6.join(',')}|${r.cnames[0] ?? ''}|${r.perName ?? ''}`;
}

/** Encoded entries by host and content, counted by the views using them; one per cluster domain. */
export class EntryCache {
  readonly #byHost = new Map<string, Map<string, Entry>>();
  readonly #svcSuffix: string;

  constructor(clusterDomain: string) {
    this.#svcSuffix = `.svc.${bare(clusterDomain)}`;
  }

  /** The entry for this content, encoded once for every view. */
  acquire(host: string, record: TableRecord): Entry {
    const key = contentKey(record);
    const variants = this.#byHost.get(host) ?? new Map<string, Entry>();
    let entry = variants.get(key);
    if (!entry) {
      const bytes = encodeNameEntry(host, this.#info(host, record));
      const digest = partDigest(bytes);
      const resource = { typeUrl: NAME_TABLE_TYPE_URL, value: bytes };
      entry = { host, key, bytes, digest, resource, version: digestHex(digest), users: 0 };
      variants.set(key, entry);
      this.#byHost.set(host, variants);
    }
    entry.users++;
    return entry;
  }

  release(entry: Entry): void {
    if (--entry.users > 0) return;
    const variants = this.#byHost.get(entry.host);
    variants?.delete(entry.key);
    if (variants?.size === 0) this.#byHost.delete(entry.host);
  }

  /** Distinct entries held (for tests and /debug). */
  get size(): number {
    let n = 0;
    for (const v of this.#byHost.values()) n += v.size;
    return n;
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
    // Per-name VIPs (issue 14 item 5): fields of ours, which an Istio agent skips: it answers the wildcard
    // with its ips (a DYNAMIC_DNS entry's VIP) or, with none, skips the entry and forwards (Istio's
    // pkg/dns/client "malformed ips"), and answers each name asked so far as a host of its own.
    if (r.kind === 'per-name') info.perNameWildcard = true;
    if (r.perName !== undefined) info.perNameOf = r.perName;
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

export class XdsTableMirror {
  readonly #cache: EntryCache;
  /** Host (no trailing dot) → its encoded entry. */
  readonly #entries = new Map<string, Entry>();
  /** Wire key → host, for the names of the table that are hosts (not aliases or search forms). */
  readonly #hostOfKey = new Map<string, string>();
  #wildHosts: string[] = [];
  /** XOR of every entry's digest. */
  readonly #sum = new DigestSum();

  readonly #sink: NamedSink | undefined;

  constructor(cache: EntryCache, sink?: NamedSink) {
    this.#cache = cache;
    this.#sink = sink;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A digest of the content, whatever order it was built in. */
  get version(): string {
    return this.#sum.hex;
  }

  resource(): XdsResource {
    return nameTableOfEntries([...this.#entries.values()].map((e) => e.bytes));
  }

  /** Follows one builder update; true when the table changed. */
  apply(change: TableChange, records: TableRecords): boolean {
    const before = this.version;
    for (const key of change.remove) this.#dropKey(key);
    for (const key of change.set) {
      const record = records.exact.get(key)!;
      if (record.kind === 'host' || record.kind === 'endpoint') {
        const host = bare(record.name);
        this.#hostOfKey.set(key, host);
        this.#put(host, record);
      } else this.#dropKey(key);
    }
    if (change.wildcards) {
      for (const host of this.#wildHosts) this.#drop(host);
      this.#wildHosts = [];
      for (const record of records.wildcards.values()) {
        const host = bare(record.name);
        this.#wildHosts.push(host);
        this.#put(host, record);
      }
    }
    return this.version !== before;
  }

  /** Everything in `records` (a fresh builder). */
  fill(records: TableRecords): void {
    this.apply({ set: [...records.exact.keys()], remove: [], wildcards: true }, records);
  }

  /**
   * Gives the entries back to the cache (the view is dropped). The publisher is left as it is: a delta
   * stream moving its agent to another view compares that view with this one's last content.
   */
  clear(): void {
    for (const entry of this.#entries.values()) {
      this.#sum.toggle(entry.digest);
      this.#cache.release(entry);
    }
    this.#entries.clear();
    this.#hostOfKey.clear();
    this.#wildHosts = [];
  }

  #put(host: string, record: TableRecord): void {
    const old = this.#entries.get(host);
    if (old && old.key === contentKey(record)) return;
    const entry = this.#cache.acquire(host, record);
    if (old) {
      this.#sum.toggle(old.digest);
      this.#cache.release(old);
    }
    this.#sum.toggle(entry.digest);
    this.#entries.set(host, entry);
    this.#sink?.set(host, entry.resource, entry.version);
  }

  #dropKey(key: string): void {
    const host = this.#hostOfKey.get(key);
    if (host === undefined) return;
    this.#hostOfKey.delete(key);
    this.#drop(host);
  }

  #drop(host: string): void {
    const old = this.#entries.get(host);
    if (!old) return;
    this.#sum.toggle(old.digest);
    this.#cache.release(old);
    this.#entries.delete(host);
    this.#sink?.remove(host);
  }
}
