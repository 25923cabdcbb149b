// The name table kept up to date one change at a time (issue 8: an edit at 100,000 objects must
// reach the answers in under a second, so it cannot rebuild every name). Resources are indexed by
// the names they give; a change recomputes only the hosts it touches, then the ExternalNames that
// point at them. The table holds hosts only: their short forms and search-path shortcuts follow by
// rule and are worked out when asked (derive.ts). A full build is the same code with every resource
// added, so the two cannot drift.
import { fitsWire, flatName, ipFamily, nameToKey, toFqdn } from '../dns/index.js';
import type { EndpointSet, Resource, Service, ServiceEntry, SourceRef } from '../model/index.js';
import type { PerNameRule, TableRecords, TableScope, VipLookup } from './build.js';
import { Derivation, firstName } from './derive.js';
import type { EntryKind, TableRecord } from './entry.js';
import type { SearchWildcard } from './table.js';

/** The addresses one host answers with, merged from everything that names it (SPEC §3). */
interface Draft {
  kind: EntryKind;
  ipv4: Set<string>;
  ipv6: Set<string>;
  external?: string;
  origin: string;
  /** A per-name host's wildcard (TableRecord.perName). */
  perName?: string;
}

/**
 * A finished draft, as kept between changes: arrays, not sets (a table holds hundreds of thousands),
 * shared by its records, so nothing may change them.
 */
interface Host {
  kind: EntryKind;
  ipv4: readonly string[];
  ipv6: readonly string[];
  external?: string;
  origin: string;
  perName?: string;
}

/** Most hosts have no address of one family (a Service's IPv6): they share one frozen empty list. */
const NO_ADDRESSES: readonly string[] = Object.freeze([]);

const listOf = (ips: Set<string>): readonly string[] => (ips.size === 0 ? NO_ADDRESSES : [...ips]);

function finish(d: Draft | undefined): Host | undefined {
  if (d === undefined) return undefined;
  const host: Host = { kind: d.kind, ipv4: listOf(d.ipv4), ipv6: listOf(d.ipv6), origin: d.origin };
  if (d.external !== undefined) host.external = d.external;
  if (d.perName !== undefined) host.perName = d.perName;
  return host;
}

/** What one `update` changed, by wire key: the names to send again and the names gone. */
export interface TableChange {
  set: string[];
  remove: string[];
  /** Some wildcard (or its search-path form) changed: they are few and sent whole. */
  wildcards: boolean;
}

/**
 * A host as a controller's name table gives it (the agent's side of xDS): the addresses, or the name it
 * points at, already merged and filtered for this workload.
 */
export interface GivenHost {
  kind: EntryKind;
  ips: readonly string[];
  /** An ExternalName's target. */
  external?: string;
  origin: string;
  /** A name with a VIP of its own under a per-name wildcard: that wildcard (TableRecord.perName). */
  perName?: string;
}

/** Resources that left and came (by object identity), and hosts whose VIPs moved. */
export interface ResourceChange {
  removed?: Iterable<Resource>;
  added?: Iterable<Resource>;
  /** `allocationKey`s (`namespace/name/host`) whose VIPs changed. */
  vipsChanged?: Iterable<string>;
  /** Hosts given directly (`*.suffix` for wildcards), undefined for gone: what an agent's xDS table holds. */
  hosts?: Iterable<[string, GivenHost | undefined]>;
  /**
   * ServiceEntries replaced by copies that give the same names the same way (only their status differs,
   * see controller/status-echo.ts): the copy takes the old one's place, and no host is derived again.
   */
  replaced?: Iterable<[ServiceEntry, ServiceEntry]>;
}

/** Flat (flatName): every record of the host holds it, and a joined string is a tree of its pieces. */
function origin(kind: string, ns: string, name: string, source: SourceRef): string {
  return flatName(`${kind} ${ns}/${name} (${source.file} doc ${source.doc})`);
}

function draft(kind: EntryKind, originText: string, ips: Iterable<string> = []): Draft {
  const d: Draft = { kind, ipv4: new Set(), ipv6: new Set(), origin: originText };
  addIps(d, ips);
  return d;
}

function addIps(d: Draft, ips: Iterable<string>): void {
  for (const ip of ips) {
    const family = ipFamily(ip);
    if (family === 4) d.ipv4.add(ip);
    else if (family === 6) d.ipv6.add(ip.toLowerCase());
  }
}

/** The order of the snapshot (file, document, list item): merges follow it, as a full build would. */
function bySource(a: { source: SourceRef }, b: { source: SourceRef }): number {
  const x = a.source;
  const y = b.source;
  if (x.file !== y.file) return x.file < y.file ? -1 : 1;
  return x.doc - y.doc || (x.item ?? -1) - (y.item ?? -1);
}

/** SPEC §3.7: `exportTo` `*` (default), `.` (own namespace) or namespace names. */
export function visible(se: ServiceEntry, namespace: string): boolean {
  const to = se.exportTo.length === 0 ? ['*'] : se.exportTo;
  return to.some((t) => t === '*' || t === namespace || (t === '.' && se.meta.namespace === namespace));
}

/** The names of an entry: exact hosts as FQDNs, wildcards as their suffix. IP hosts are no names. */
function entryHosts(se: ServiceEntry): { exact: string[]; wild: string[] } {
  const exact: string[] = [];
  const wild: string[] = [];
  for (const h of se.hosts) {
    if (ipFamily(h) !== 0) continue;
    const host = toFqdn(h);
    if (host.startsWith('*.')) wild.push(host.slice(2));
    else exact.push(host);
  }
  return { exact, wild };
}

/**
 * What an index holds under one key: the value itself when it is the only one (nearly every host is
 * named by one resource), a Set past that. A Set per key cost 130 bytes a host (issue 8: memory at
 * 50,000 objects). The values are objects or strings, never Sets.
 */
type Bag<V> = V | Set<V>;

function addTo<K, V>(index: Map<K, Bag<V>>, key: K, value: V): void {
  const held = index.get(key);
  if (held === undefined) index.set(key, value);
  else if (held instanceof Set) held.add(value);
  else if (held !== value) index.set(key, new Set([held, value]));
}

function removeFrom<K, V>(index: Map<K, Bag<V>>, key: K, value: V): void {
  const held = index.get(key);
  if (held === undefined) return;
  if (!(held instanceof Set)) {
    if (held === value) index.delete(key);
    return;
  }
  held.delete(value);
  if (held.size === 1) index.set(key, held.values().next().value as V);
}

/** Puts `now` where `old` was, in the same place of the order. */
function replaceIn<K, V>(index: Map<K, Bag<V>>, key: K, old: V, now: V): void {
  const held = index.get(key);
  if (held === old) index.set(key, now);
  else if (held instanceof Set && held.has(old))
    index.set(key, new Set([...held].map((v) => (v === old ? now : v))));
}

/** A bag's values, in the order they came. */
function items<V>(held: Bag<V> | undefined): V[] {
  if (held === undefined) return [];
  return held instanceof Set ? [...held] : [held];
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

export function sameRecord(a: TableRecord, b: TableRecord): boolean {
  return (
    a.name === b.name &&
    a.kind === b.kind &&
    a.origin === b.origin &&
    a.external === b.external &&
    a.perName === b.perName &&
    sameList(a.cnames, b.cnames) &&
    sameList(a.ipv4, b.ipv4) &&
    sameList(a.ipv6, b.ipv6)
  );
}

/** ExternalNames followed through the table before the rest is left to upstream (a loop stops sooner). */
const MAX_CNAME_CHAIN = 8;

/** Shared by every record that answers addresses directly (most of them). */
const NO_CNAMES: string[] = [];

function toRecord(name: string, d: Host, kind: EntryKind): TableRecord {
  // The host's arrays, not copies: records are never changed once made.
  const record: TableRecord = {
    name,
    kind,
    cnames: NO_CNAMES,
    ipv4: d.ipv4 as string[],
    ipv6: d.ipv6 as string[],
    origin: d.origin,
  };
  if (d.external !== undefined) record.external = d.external;
  if (d.perName !== undefined) record.perName = d.perName;
  return record;
}

export class TableBuilder {
  readonly #scope: TableScope;
  readonly #vips: VipLookup | undefined;
  readonly #perName: PerNameRule | undefined;
  readonly #derive: Derivation;

  // What the resources say, indexed by the names they give.
  readonly #services = new Map<string, Service>();
  readonly #endpoints = new Map<string, Bag<EndpointSet>>();
  readonly #entries = new Map<string, Bag<ServiceEntry>>();
  readonly #wildEntries = new Map<string, Bag<ServiceEntry>>();
  /** A headless Service's host → the endpoint hostnames it gives (`pod.svc.ns.svc.cluster.local.`). */
  readonly #endpointHosts = new Map<string, Set<string>>();
  /** The reverse: an endpoint hostname → the Service host that gives it. */
  readonly #endpointOwner = new Map<string, string>();
  /** Hosts given directly (ResourceChange.hosts) by FQDN, and wildcards by their suffix. */
  readonly #given = new Map<string, Host>();
  readonly #givenWild = new Map<string, Host>();

  // What follows from them.
  readonly #drafts = new Map<string, Host>();
  /** ExternalName target → the hosts pointing at it, whose answers follow the target's. */
  readonly #externalRefs = new Map<string, Bag<string>>();

  /** The table as data, changed in place by `update`. */
  readonly records: TableRecords;
  /** Hosts derived again so far, by every update (what an update cost; for the controller's log and tests). */
  redrafts = 0;

  /** `perName`: which wildcards get a VIP per name asked (issue 14 item 5); only with `vips`. */
  constructor(scope: TableScope, vips?: VipLookup, perName?: PerNameRule) {
    this.#scope = scope;
    this.#vips = vips;
    this.#perName = vips && perName;
    this.#derive = new Derivation(scope);
    this.records = { exact: new Map(), wildcards: new Map(), searchWildcards: new Map(), scope };
  }

  update(change: ResourceChange): TableChange {
    const hosts = new Set<string>();
    const services = new Set<string>();
    const wild = new Set<string>();
    for (const [old, now] of change.replaced ?? []) this.#replace(old, now);
    for (const r of change.removed ?? []) this.#index(r, false, hosts, services, wild);
    for (const r of change.added ?? []) this.#index(r, true, hosts, services, wild);
    for (const [name, given] of change.hosts ?? []) this.#give(name, given, hosts, wild);
    for (const key of change.vipsChanged ?? []) {
      const host = toFqdn(key.slice(key.lastIndexOf('/') + 1));
      if (host.startsWith('*.')) wild.add(host.slice(2));
      else hosts.add(host);
    }
    // A headless Service's endpoints give hostnames of their own: those come and go with it.
    for (const svcHost of services) {
      hosts.add(svcHost);
      this.#refreshEndpointHosts(svcHost, hosts);
    }
    for (const host of hosts) this.#redraft(host);
    // Hosts answered through another: ExternalNames leading to a changed host or one of its aliases
    // (through any number of ExternalNames).
    const names = hosts;
    if (this.#externalRefs.size > 0) {
      const queue = [...names];
      for (let i = 0; i < queue.length; i++) {
        const name = queue[i]!;
        for (const target of [name, ...this.#derive.aliasesOf(name)]) {
          for (const host of items(this.#externalRefs.get(target))) {
            if (names.has(host)) continue;
            names.add(host);
            queue.push(host);
          }
        }
      }
    }
    const out: TableChange = { set: [], remove: [], wildcards: false };
    for (const name of names) this.#settle(name, out);
    if (wild.size > 0) out.wildcards = this.#rewild(wild);
    return out;
  }

  #index(r: Resource, add: boolean, hosts: Set<string>, services: Set<string>, wild: Set<string>): void {
    switch (r.kind) {
      case 'Service': {
        const host = this.#serviceHost(r.meta.namespace, r.meta.name);
        if (add) this.#services.set(host, r);
        else if (this.#services.get(host) === r) this.#services.delete(host);
        services.add(host);
        return;
      }
      case 'EndpointSlice':
      case 'Endpoints': {
        const key = `${r.meta.namespace}/${r.serviceName}`;
        if (add) addTo(this.#endpoints, key, r);
        else removeFrom(this.#endpoints, key, r);
        services.add(this.#serviceHost(r.meta.namespace, r.serviceName));
        return;
      }
      case 'ServiceEntry': {
        const { exact, wild: suffixes } = entryHosts(r);
        for (const host of exact) {
          if (add) addTo(this.#entries, host, r);
          else removeFrom(this.#entries, host, r);
          hosts.add(host);
        }
        for (const suffix of suffixes) {
          if (add) addTo(this.#wildEntries, suffix, r);
          else removeFrom(this.#wildEntries, suffix, r);
          wild.add(suffix);
        }
        return;
      }
      default:
        return;
    }
  }

  #replace(old: ServiceEntry, now: ServiceEntry): void {
    const { exact, wild } = entryHosts(old);
    for (const host of exact) replaceIn(this.#entries, host, old, now);
    for (const suffix of wild) replaceIn(this.#wildEntries, suffix, old, now);
  }

  #give(name: string, given: GivenHost | undefined, hosts: Set<string>, wild: Set<string>): void {
    const fqdn = toFqdn(name);
    const isWild = fqdn.startsWith('*.');
    const key = isWild ? fqdn.slice(2) : fqdn;
    const index = isWild ? this.#givenWild : this.#given;
    if (given) {
      const d = draft(given.kind, given.origin, given.ips);
      if (given.external !== undefined) d.external = toFqdn(given.external);
      if (given.perName !== undefined) d.perName = given.perName;
      index.set(key, finish(d)!);
    } else index.delete(key);
    (isWild ? wild : hosts).add(key);
  }

  #serviceHost(namespace: string, name: string): string {
    return toFqdn(`${name}.${namespace}.svc.${this.#scope.clusterDomain}`);
  }

  /** The endpoint hostnames a headless Service gives now; the ones it gave before are changed too. */
  #refreshEndpointHosts(svcHost: string, hosts: Set<string>): void {
    const before = this.#endpointHosts.get(svcHost);
    for (const h of before ?? []) {
      hosts.add(h);
      if (this.#endpointOwner.get(h) === svcHost) this.#endpointOwner.delete(h);
    }
    this.#endpointHosts.delete(svcHost);
    const svc = this.#services.get(svcHost);
    if (!svc?.headless || svc.externalName !== undefined) return;
    const now = new Set<string>();
    for (const set of this.#endpointSets(svc)) {
      for (const ep of set.endpoints) {
        if (ep.hostname && (ep.ready || svc.publishNotReadyAddresses))
          now.add(toFqdn(`${ep.hostname}.${svcHost}`));
      }
    }
    if (now.size === 0) return;
    this.#endpointHosts.set(svcHost, now);
    for (const h of now) {
      hosts.add(h);
      if (!this.#endpointOwner.has(h)) this.#endpointOwner.set(h, svcHost);
    }
  }

  #endpointSets(svc: Service): EndpointSet[] {
    return items(this.#endpoints.get(`${svc.meta.namespace}/${svc.meta.name}`)).sort(bySource);
  }

  /** Recomputes one host's draft. */
  #redraft(host: string): void {
    this.redrafts++;
    const before = this.#drafts.get(host);
    const after = this.#draftOf(host);
    if (before?.external !== undefined) removeFrom(this.#externalRefs, before.external, host);
    if (after?.external !== undefined) addTo(this.#externalRefs, after.external, host);
    if (after) this.#drafts.set(host, after);
    else this.#drafts.delete(host);
  }

  #draftOf(host: string): Host | undefined {
    const svc = this.#services.get(host);
    let d = svc ? this.#serviceDraft(svc) : undefined;
    if (!d) {
      const owner = this.#endpointOwner.get(host);
      const ownerSvc = owner === undefined ? undefined : this.#services.get(owner);
      if (ownerSvc) d = this.#endpointDraft(host, ownerSvc);
    }
    // SPEC §3.4: a Kubernetes Service owns its host; ServiceEntries for one host merge their IPs.
    return finish(d ?? this.#entryDraft(this.#entries.get(host), host, 'host')) ?? this.#given.get(host);
  }

  #serviceDraft(svc: Service): Draft | undefined {
    const { name, namespace } = svc.meta;
    const from = origin('Service', namespace, name, svc.source);
    if (svc.externalName !== undefined) return { ...draft('host', from), external: toFqdn(svc.externalName) };
    if (!svc.headless) return svc.clusterIPs.length > 0 ? draft('host', from, svc.clusterIPs) : undefined;
    // Headless: the ready endpoints themselves (SPEC §3.2).
    const d = draft('host', from);
    for (const set of this.#endpointSets(svc)) {
      for (const ep of set.endpoints) if (ep.ready || svc.publishNotReadyAddresses) addIps(d, ep.addresses);
    }
    return d.ipv4.size + d.ipv6.size > 0 ? d : undefined;
  }

  /** `pod.svc.ns.svc.cluster.local.`: the addresses of the endpoints with that hostname. */
  #endpointDraft(host: string, svc: Service): Draft {
    const from = origin('Service', svc.meta.namespace, svc.meta.name, svc.source);
    const svcHost = this.#serviceHost(svc.meta.namespace, svc.meta.name);
    const d = draft('endpoint', from);
    for (const set of this.#endpointSets(svc)) {
      for (const ep of set.endpoints) {
        if (!ep.hostname || !(ep.ready || svc.publishNotReadyAddresses)) continue;
        if (toFqdn(`${ep.hostname}.${svcHost}`) === host) addIps(d, ep.addresses);
      }
    }
    return d;
  }

  /** The entries naming `name` that this workload sees, merged in snapshot order. */
  #entryDraft(entries: Bag<ServiceEntry> | undefined, name: string, kind: EntryKind): Draft | undefined {
    if (entries === undefined) return undefined;
    let d: Draft | undefined;
    /** Issue 14 item 5: a wildcard whose names get VIPs of their own, unless an entry gives it addresses. */
    let perName: ServiceEntry | undefined;
    let userAddresses = false;
    for (const se of items(entries).sort(bySource)) {
      if (!visible(se, this.#scope.namespace)) continue;
      userAddresses ||= se.addresses.length > 0;
      // The host as the entry writes it: no trailing dot.
      if (kind === 'wildcard' && this.#perName?.(se, `*.${name.slice(0, -1)}`)) perName ??= se;
      const ips = this.#entryIps(se, name, kind);
      if (ips.length === 0) continue;
      if (d) addIps(d, ips);
      else d = draft(kind, origin('ServiceEntry', se.meta.namespace, se.meta.name, se.source), ips);
      if (kind === 'host' && se.perNameOf !== undefined) d.perName = se.perNameOf;
    }
    if (perName === undefined || userAddresses) return d;
    // Its records (a DYNAMIC_DNS wildcard's own VIPs) answer only what gets no VIP of its own.
    d ??= draft(kind, origin('ServiceEntry', perName.meta.namespace, perName.meta.name, perName.source));
    d.kind = 'per-name';
    return d;
  }

  /** An entry's own addresses, or for one without, the VIPs of the host (if auto-allocation is on). */
  #entryIps(se: ServiceEntry, name: string, kind: EntryKind): string[] {
    if (se.addresses.length > 0) return se.addresses.filter((a) => ipFamily(a) !== 0);
    // The allocator knows the host as written: find it by the name it gives.
    const host = se.hosts.find((h) => toFqdn(h) === (kind === 'wildcard' ? `*.${name}` : name));
    const vip = host === undefined ? undefined : this.#vips?.(se, host);
    return [vip?.v4, vip?.v6].filter((ip): ip is string => ip !== undefined);
  }

  /** The record a host answers with now. */
  #recordOf(name: string): TableRecord | undefined {
    const own = this.#drafts.get(name);
    return own && this.#resolve(name, own, own.kind);
  }

  /** An ExternalName pointing at a name we hold answers from the table instead of going upstream. */
  /**
   * An ExternalName is followed through the table, ExternalName after ExternalName: the CNAME chain
   * ends at addresses we hold, or at a name outside the table, which is resolved upstream at query
   * time (a loop, or a chain longer than MAX_CNAME_CHAIN, ends there too).
   */
  #resolve(name: string, d: Host, kind: EntryKind): TableRecord {
    const r = toRecord(name, d, kind);
    // Most names answer addresses directly: no chain to follow, nothing more to allocate.
    if (d.external === undefined) return r;
    const chain: string[] = [];
    // A host and its aliases (those no other host owns) answer alike: a chain back to any is a loop.
    const seen = new Set([name]);
    for (const alias of this.#derive.aliasesOf(name)) if (!this.#drafts.has(alias)) seen.add(alias);
    for (let target = d.external; target !== undefined; ) {
      chain.push(target);
      const next = seen.has(target) ? undefined : (this.#drafts.get(target) ?? this.#aliasDraft(target));
      seen.add(target);
      if (next === undefined || chain.length >= MAX_CNAME_CHAIN) {
        r.external = target;
        break;
      }
      if (next.external === undefined) {
        delete r.external;
        r.ipv4 = next.ipv4 as string[];
        r.ipv6 = next.ipv6 as string[];
        break;
      }
      target = next.external;
    }
    if (chain.length > 0) r.cnames = chain;
    return r;
  }

  /** The draft behind an alias: of the hosts that give it, the first by name (the order never matters). */
  #aliasDraft(name: string): Host | undefined {
    const winner = firstName(this.#derive.aliasHostsOf(name).filter((h) => this.#drafts.has(h)));
    return winner === undefined ? undefined : this.#drafts.get(winner);
  }

  /** Puts a name's current record in the table; notes it in `out` when it changed. */
  #settle(name: string, out: TableChange): void {
    const after = this.#recordOf(name);
    // A name too long for the wire format (the search-path form of a long name) was never in the table.
    if (after === undefined && !fitsWire(name)) return;
    const key = nameToKey(name);
    const before = this.records.exact.get(key);
    if (after === undefined) {
      if (before === undefined) return;
      this.records.exact.delete(key);
      out.remove.push(key);
      return;
    }
    if (before !== undefined && sameRecord(before, after)) return;
    this.records.exact.set(key, after);
    out.set.push(key);
  }

  /** Recomputes the changed wildcards; true when any of them (or their search-path form) changed. */
  #rewild(suffixes: Set<string>): boolean {
    let changed = false;
    for (const suffix of suffixes) {
      const before = this.records.wildcards.get(nameToKey(suffix));
      const d =
        finish(this.#entryDraft(this.#wildEntries.get(suffix), suffix, 'wildcard')) ??
        this.#givenWild.get(suffix);
      const after = d && toRecord(`*.${suffix}`, d, d.kind === 'per-name' ? 'per-name' : 'wildcard');
      if (before === undefined ? after === undefined : after !== undefined && sameRecord(before, after))
        continue;
      changed = true;
      this.#setWildcard(suffix, after);
    }
    return changed;
  }

  #setWildcard(suffix: string, record: TableRecord | undefined): void {
    const key = nameToKey(suffix);
    const search = this.#derive.search;
    const viaSearch =
      search !== undefined && fitsWire(`${suffix}${search}`) ? nameToKey(`${suffix}${search}`) : undefined;
    if (record === undefined) {
      this.records.wildcards.delete(key);
      if (viaSearch !== undefined) this.records.searchWildcards.delete(viaSearch);
      return;
    }
    this.records.wildcards.set(key, record);
    // A per-name wildcard's names are allocated as asked, by their own name: no search-path form.
    if (viaSearch !== undefined && record.kind === 'per-name') this.records.searchWildcards.delete(viaSearch);
    else if (viaSearch !== undefined) {
      const sw: SearchWildcard = {
        record: { ...record, name: `*.${suffix}${search}`, kind: 'search' },
        searchSuffixKey: nameToKey(search!),
      };
      this.records.searchWildcards.set(viaSearch, sw);
    }
  }
}
