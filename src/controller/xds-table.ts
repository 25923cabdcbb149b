// A workload view's table in Istio's NameTable layout: one entry per host, its aliases and search-path
// forms left to the agent (it knows its namespace and search domains). Kept up to date from the
// builder's changes, and kept encoded: each host's entry is encoded when it changes, and the table is
// the concatenation of its entries (protobuf messages concatenate into their merge), so an edit of one
// host costs one entry's encoding, not the table's. The version is a digest of the content that does
// not depend on the order the entries came in: every replica names the same table the same way.
import { createHash } from 'node:crypto';
import type { TableChange, TableRecord, TableRecords } from '../nametable/index.js';
import { encodeNameEntry, nameTableOfEntries, type XdsNameInfo, type XdsResource } from '../xds/index.js';

const bare = (fqdn: string) => (fqdn.endsWith('.') ? fqdn.slice(0, -1) : fqdn);

/** Bytes of each entry's digest folded into the version. */
const DIGEST_BYTES = 16;

interface Entry {
  bytes: Uint8Array;
  digest: Buffer;
}

export class XdsTableMirror {
  /** Host (no trailing dot) → its encoded entry. */
  readonly #entries = new Map<string, Entry>();
  /** Wire key → host, for the names of the table that are hosts (not aliases or search forms). */
  readonly #hostOfKey = new Map<string, string>();
  #wildHosts: string[] = [];
  readonly #svcSuffix: string;
  /** XOR of every entry's digest. */
  readonly #sum = Buffer.alloc(DIGEST_BYTES);

  constructor(clusterDomain: string) {
    this.#svcSuffix = `.svc.${bare(clusterDomain)}`;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A digest of the content, whatever order it was built in. */
  get version(): string {
    return this.#sum.toString('hex');
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

  #put(host: string, record: TableRecord): void {
    const bytes = encodeNameEntry(host, this.#info(host, record));
    const old = this.#entries.get(host);
    if (old && Buffer.compare(old.bytes, bytes) === 0) return;
    if (old) xor(this.#sum, old.digest);
    const digest = createHash('sha256').update(bytes).digest().subarray(0, DIGEST_BYTES);
    xor(this.#sum, digest);
    this.#entries.set(host, { bytes, digest });
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
    xor(this.#sum, old.digest);
    this.#entries.delete(host);
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

function xor(into: Buffer, digest: Buffer): void {
  for (let i = 0; i < DIGEST_BYTES; i++) into[i]! ^= digest[i]!;
}
