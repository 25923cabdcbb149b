// Builds one workload's name table from the resources (SPEC §3), the way istiod builds the
// NameTable it sends to each proxy and istio-agent expands it into its lookup table.
import { isIP, isIPv4 } from 'node:net';
import { fitsWire, nameToKey, toFqdn } from '../dns/index.js';
import type { Resources, Service, ServiceEntry, SourceRef } from '../model/index.js';
import type { EntryKind, TableRecord } from './entry.js';
import { NameTable, type SearchWildcard } from './table.js';

/** What about the workload shapes its table. */
export interface TableScope {
  /** The workload's namespace: decides `name.` aliases and ServiceEntry visibility. */
  namespace: string;
  /** Cluster domain, `cluster.local` by default. */
  clusterDomain: string;
  /** resolv.conf search domains; the first one gets the search-path shortcut (SPEC §3.9). */
  searchDomains: string[];
}

/** Auto-allocated VIPs of a ServiceEntry host (SPEC §5); absent when the workload has auto-allocation off. */
export type VipLookup = (entry: ServiceEntry, host: string) => { v4?: string; v6?: string } | undefined;

interface Draft {
  kind: EntryKind;
  ipv4: Set<string>;
  ipv6: Set<string>;
  external?: string;
  origin: string;
  fromService: boolean;
}

function origin(kind: string, ns: string, name: string, source: SourceRef): string {
  return `${kind} ${ns}/${name} (${source.file} doc ${source.doc})`;
}

function draft(kind: EntryKind, fromService: boolean, originText: string, ips: string[] = []): Draft {
  const d: Draft = { kind, ipv4: new Set(), ipv6: new Set(), origin: originText, fromService };
  addIps(d, ips);
  return d;
}

function addIps(d: Draft, ips: Iterable<string>): void {
  for (const ip of ips) {
    if (isIPv4(ip)) d.ipv4.add(ip);
    else if (isIP(ip) === 6) d.ipv6.add(ip.toLowerCase());
  }
}

function addService(hosts: Map<string, Draft>, svc: Service, res: Resources, domain: string): void {
  const { name, namespace } = svc.meta;
  const host = toFqdn(`${name}.${namespace}.svc.${domain}`);
  const from = origin('Service', namespace, name, svc.source);
  if (svc.externalName !== undefined) {
    hosts.set(host, { ...draft('host', true, from), external: toFqdn(svc.externalName) });
    return;
  }
  if (!svc.headless) {
    if (svc.clusterIPs.length > 0) hosts.set(host, draft('host', true, from, svc.clusterIPs));
    return;
  }
  // Headless: the endpoints themselves, and each endpoint's own hostname (SPEC §3.2).
  const d = draft('host', true, from);
  for (const set of res.endpoints) {
    if (set.meta.namespace !== namespace || set.serviceName !== name) continue;
    for (const ep of set.endpoints) {
      if (!ep.ready && !svc.publishNotReadyAddresses) continue;
      addIps(d, ep.addresses);
      if (ep.hostname) {
        const epHost = toFqdn(`${ep.hostname}.${host}`);
        const existing = hosts.get(epHost);
        if (existing) addIps(existing, ep.addresses);
        else hosts.set(epHost, draft('endpoint', true, from, ep.addresses));
      }
    }
  }
  if (d.ipv4.size + d.ipv6.size > 0) hosts.set(host, d);
}

/** SPEC §3.7: `exportTo` `*` (default), `.` (own namespace) or namespace names. */
function visible(se: ServiceEntry, namespace: string): boolean {
  const to = se.exportTo.length === 0 ? ['*'] : se.exportTo;
  return to.some((t) => t === '*' || t === namespace || (t === '.' && se.meta.namespace === namespace));
}

function addServiceEntry(
  hosts: Map<string, Draft>,
  wildcards: Map<string, Draft>,
  se: ServiceEntry,
  vips: VipLookup | undefined,
): void {
  const ips = se.addresses.filter((a) => isIP(a) !== 0);
  const from = origin('ServiceEntry', se.meta.namespace, se.meta.name, se.source);
  for (const h of se.hosts) {
    // An IP address host is not a name: clients never ask DNS for it (and it gets no VIP).
    if (isIP(h) !== 0) continue;
    const host = toFqdn(h);
    let hostIps = ips;
    if (se.addresses.length === 0) {
      const vip = vips?.(se, h);
      hostIps = [vip?.v4, vip?.v6].filter((ip): ip is string => ip !== undefined);
    }
    if (hostIps.length === 0) continue;
    const target = host.startsWith('*.') ? wildcards : hosts;
    const key = host.startsWith('*.') ? host.slice(2) : host;
    const existing = target.get(key);
    // SPEC §3.4: a Kubernetes Service owns its host; ServiceEntries for one host merge their IPs.
    if (existing?.fromService) continue;
    if (existing) addIps(existing, hostIps);
    else target.set(key, draft(host.startsWith('*.') ? 'wildcard' : 'host', false, from, hostIps));
  }
}

/**
 * SPEC §3.8 (Istio's generateAltHosts): "name.ns.svc.cluster.local." is also reachable as
 * "name.ns.svc.", "name.ns." and, from the same namespace, "name.".
 */
function altNames(host: string, scope: TableScope): string[] {
  const suffix = `.svc.${toFqdn(scope.clusterDomain)}`;
  if (!host.endsWith(suffix)) return [];
  const prefix = host.slice(0, -suffix.length);
  const out = [`${prefix}.svc.`, `${prefix}.`];
  const nsSuffix = `.${scope.namespace}`;
  if (prefix.endsWith(nsSuffix) && prefix.length > nsSuffix.length)
    out.push(`${prefix.slice(0, -nsSuffix.length)}.`);
  return out;
}

function toRecord(name: string, d: Draft, kind: EntryKind, cnames: string[] = []): TableRecord {
  const record: TableRecord = { name, kind, cnames, ipv4: [...d.ipv4], ipv6: [...d.ipv6], origin: d.origin };
  if (d.external !== undefined) record.external = d.external;
  return record;
}

/**
 * A table as plain data, keyed by wire key: what the controller computes (off the thread that answers)
 * and sends; `NameTable.fromRecords` turns it into answers with precomputed wire bytes.
 */
export interface TableRecords {
  exact: Map<string, TableRecord>;
  wildcards: Map<string, TableRecord>;
  searchWildcards: Map<string, SearchWildcard>;
}

export function buildNameTable(res: Resources, scope: TableScope, vips?: VipLookup): NameTable {
  return NameTable.fromRecords(buildTableRecords(res, scope, vips));
}

export function buildTableRecords(res: Resources, scope: TableScope, vips?: VipLookup): TableRecords {
  const hosts = new Map<string, Draft>();
  const wildcards = new Map<string, Draft>();
  for (const svc of res.services) addService(hosts, svc, res, scope.clusterDomain);
  for (const se of res.serviceEntries) {
    if (visible(se, scope.namespace)) addServiceEntry(hosts, wildcards, se, vips);
  }

  const records = new Map<string, TableRecord>();
  for (const [host, d] of hosts) records.set(host, toRecord(host, d, d.kind));
  for (const [host, d] of hosts) {
    for (const alt of altNames(host, scope)) {
      if (!records.has(alt)) records.set(alt, toRecord(alt, d, 'alias'));
    }
  }
  // An ExternalName pointing at a name we hold answers from the table instead of going upstream.
  for (const r of records.values()) {
    const target = r.external === undefined ? undefined : records.get(r.external);
    if (target === undefined || target.external !== undefined) continue;
    r.cnames = [target.name];
    r.ipv4 = target.ipv4;
    r.ipv6 = target.ipv6;
    delete r.external;
  }
  for (const r of records.values()) {
    if (r.external !== undefined) r.cnames = [r.external];
  }

  const search = scope.searchDomains[0] ? toFqdn(scope.searchDomains[0]) : undefined;
  const exact = new Map<string, TableRecord>();
  for (const r of records.values()) exact.set(nameToKey(r.name), r);
  if (search !== undefined) {
    // SPEC §3.9: "h.<search>." → CNAME "h.", so the resolver's first search-path try is answered
    // in one round trip instead of NXDOMAIN from upstream followed by the real query.
    for (const r of records.values()) {
      const expanded = `${r.name}${search}`;
      if (r.name.endsWith(`.${search}`) || !fitsWire(expanded)) continue;
      const key = nameToKey(expanded);
      if (exact.has(key)) continue;
      exact.set(key, { ...r, name: expanded, kind: 'search', cnames: [r.name, ...r.cnames] });
    }
  }

  const wild = new Map<string, TableRecord>();
  const searchWild = new Map<string, SearchWildcard>();
  for (const [suffix, d] of wildcards) {
    const name = `*.${suffix}`;
    wild.set(nameToKey(suffix), toRecord(name, d, 'wildcard'));
    if (search !== undefined && fitsWire(`${suffix}${search}`)) {
      searchWild.set(nameToKey(`${suffix}${search}`), {
        record: toRecord(`*.${suffix}${search}`, d, 'search'),
        searchSuffixKey: nameToKey(search),
      });
    }
  }
  return { exact, wildcards: wild, searchWildcards: searchWild };
}
