// The kinds a mesh has by the thousand (Service, ServiceEntry, EndpointSlice, Namespace), converted
// without zod when they are plainly valid. zod cost the controller's thread about 18 µs an object and
// some 100 ms to load before it read its first file (issue 8: the first full table). Each function
// here returns exactly the resource the zod converter gives (checked.ts; the differential test
// test/unit/model-quick.test.ts holds them equal), or undefined for anything it is not sure of: the
// zod converter then decides, and names what is wrong.
import type { ConvertResult } from './fields.js';
import {
  ipFamily,
  isCidr,
  isDnsLabel,
  isDnsSubdomain,
  isHostname,
  isIPAddress,
  isWildcardHost,
  normalizeHost,
} from './names.js';
import { type Endpoint, type ObjectMeta, RESOLUTIONS, type Service, type SourceRef } from './types.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** zod's `.nullish()`: absent, undefined or null. */
const absent = (v: unknown): v is null | undefined => v === undefined || v === null;
const isPort = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;

/**
 * One frozen empty map and list for every resource without labels, annotations, addresses...: most
 * have none, and at 50,000 objects a fresh empty object or array each cost megabytes (issue 8).
 * Resources are never changed once made; frozen, a change would throw.
 */
const NO_ENTRIES: Record<string, string> = Object.freeze({}) as Record<string, string>;
export const NO_ITEMS: never[] = Object.freeze([]) as unknown as never[];
const EXPORT_TO_ALL: string[] = Object.freeze(['*']) as unknown as string[];

/** A string → string map (labels, annotations), copied; absent reads as {}; undefined when not one. */
function stringMap(v: unknown): Record<string, string> | undefined {
  if (absent(v)) return NO_ENTRIES;
  if (!isObj(v)) return undefined;
  const keys = Object.keys(v);
  if (keys.length === 0) return NO_ENTRIES;
  const out: Record<string, string> = {};
  for (const k of keys) {
    const s = v[k];
    if (typeof s !== 'string') return undefined;
    out[k] = s;
  }
  return out;
}

/** `metadata` as toMeta() gives it, when every field checks; `name` is checked by `nameOk`. */
function meta(v: unknown, namespaced: boolean, nameOk: (n: string) => boolean): ObjectMeta | undefined {
  if (!isObj(v)) return undefined;
  const { name, namespace, creationTimestamp } = v;
  if (typeof name !== 'string' || !nameOk(name)) return undefined;
  if (!absent(namespace) && !(typeof namespace === 'string' && isDnsLabel(namespace))) return undefined;
  if (!absent(creationTimestamp) && typeof creationTimestamp !== 'string') return undefined;
  const labels = stringMap(v.labels);
  const annotations = stringMap(v.annotations);
  if (!labels || !annotations) return undefined;
  const m: ObjectMeta = {
    name,
    namespace: namespaced ? ((namespace as string | null | undefined) ?? 'default') : '',
    labels,
    annotations,
  };
  if (creationTimestamp) m.creationTimestamp = creationTimestamp as string;
  return m;
}

/** Every item of a nullish list through `each` (undefined from it: not sure); absent reads as []. */
function list<T>(v: unknown, each: (item: unknown) => T | undefined): T[] | undefined {
  if (absent(v)) return NO_ITEMS;
  if (!Array.isArray(v)) return undefined;
  if (v.length === 0) return NO_ITEMS;
  // map() makes an array of exactly this length; one grown by push() keeps room for 17 items, and a
  // resource keeps its lists (50,000 objects: 14 MiB of room never used).
  const out = v.map(each);
  for (const t of out) if (t === undefined) return undefined;
  return out as T[];
}

const ok = (resource: ConvertResult['resource']): ConvertResult => ({ resource, errors: [] });

const SERVICE_TYPES = new Set(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']);
const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);
const clusterIP = (v: string) => v === 'None' || isIPAddress(v);

function servicePort(p: unknown) {
  if (!isObj(p) || !isPort(p.port)) return undefined;
  const { name, protocol, targetPort } = p;
  if (!absent(name) && typeof name !== 'string') return undefined;
  if (!absent(protocol) && !(typeof protocol === 'string' && PROTOCOLS.has(protocol))) return undefined;
  if (!absent(targetPort) && !isPort(targetPort) && !(typeof targetPort === 'string' && targetPort !== ''))
    return undefined;
  // Built by assignment (here and below): spreading a conditional literal cost V8 microseconds an object.
  const out: { name?: string; port: number; protocol: string; targetPort?: number | string } = {} as never;
  if (name) out.name = name as string;
  out.port = p.port;
  out.protocol = (protocol as string | null | undefined) ?? 'TCP';
  if (!absent(targetPort)) out.targetPort = targetPort as number | string;
  return out;
}

export function quickService(obj: Obj, source: SourceRef): ConvertResult | undefined {
  const m = meta(obj.metadata, true, isDnsLabel);
  const spec = obj.spec;
  if (!m || !isObj(spec)) return undefined;
  const { type, externalName } = spec;
  if (!absent(type) && !(typeof type === 'string' && SERVICE_TYPES.has(type))) return undefined;
  if (!absent(spec.clusterIP) && typeof spec.clusterIP !== 'string') return undefined;
  if (!absent(externalName) && typeof externalName !== 'string') return undefined;
  if (!absent(spec.publishNotReadyAddresses) && typeof spec.publishNotReadyAddresses !== 'boolean')
    return undefined;
  const ips = list(spec.clusterIPs, (ip) => (typeof ip === 'string' ? ip : undefined));
  const ports = list(spec.ports, servicePort);
  if (!ips || ips.length > 2 || !ports) return undefined;
  const first = (spec.clusterIP as string | null | undefined) || undefined;
  const external = type === 'ExternalName';
  if (external) {
    if (!externalName || !isHostname(externalName)) return undefined;
  } else {
    if (first !== undefined && !clusterIP(first)) return undefined;
    // Dual-stack: one address per family, the first equal to clusterIP; None only alone.
    for (let i = 0; i < ips.length; i++) {
      const ip = ips[i]!;
      if (!clusterIP(ip) || (ip === 'None' && ips.length > 1)) return undefined;
      if (i === 1 && ipFamily(ip) === ipFamily(ips[0]!)) return undefined;
    }
    if (first !== undefined && ips.length > 0 && ips[0] !== first) return undefined;
  }
  const all = ips.length > 0 ? ips : first !== undefined ? [first] : NO_ITEMS;
  const headless = !external && all[0] === 'None';
  const service: Service = {
    kind: 'Service',
    meta: m,
    clusterIPs: external || headless ? NO_ITEMS : all,
    headless,
    ports,
    publishNotReadyAddresses: (spec.publishNotReadyAddresses as boolean | null | undefined) ?? false,
    source,
  };
  if (external) service.externalName = normalizeHost(externalName as string);
  return ok(service);
}

const LOCATIONS = new Set(['MESH_EXTERNAL', 'MESH_INTERNAL']);
const RESOLUTION_SET = new Set<string>(RESOLUTIONS);
const isExportTarget = (v: string) => v === '.' || v === '*' || v === '~' || isDnsLabel(v);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

function entryPort(p: unknown) {
  if (!isObj(p) || !isPort(p.number)) return undefined;
  const { protocol, name, targetPort } = p;
  if (!absent(protocol) && typeof protocol !== 'string') return undefined;
  if (!absent(name) && typeof name !== 'string') return undefined;
  if (!absent(targetPort) && !isPort(targetPort)) return undefined;
  const out: { number: number; protocol: string; name: string; targetPort?: number } = {
    number: p.number,
    protocol: ((protocol as string | null | undefined) ?? 'TCP').toUpperCase(),
    name: (name as string | null | undefined) ?? '',
  };
  if (targetPort) out.targetPort = targetPort as number;
  return out;
}

function entryEndpoint(e: unknown, needIP: boolean) {
  if (!isObj(e) || typeof e.address !== 'string' || e.address === '') return undefined;
  const a = e.address;
  if (!(a.startsWith('unix://') || isIPAddress(a) || (!needIP && isHostname(a)))) return undefined;
  const labels = stringMap(e.labels);
  let ports: Record<string, number> | undefined = {};
  if (!absent(e.ports)) {
    if (!isObj(e.ports)) return undefined;
    for (const k of Object.keys(e.ports)) {
      const n = e.ports[k];
      if (!isPort(n)) return undefined;
      ports[k] = n;
    }
  }
  if (!labels) ports = undefined;
  return ports && { address: a, ports, labels: labels! };
}

function statusAddress(a: unknown) {
  if (!isObj(a) || typeof a.value !== 'string' || !isIPAddress(a.value)) return undefined;
  if (typeof a.host !== 'string' || a.host === '') return undefined;
  return { value: a.value, host: normalizeHost(a.host) };
}

export function quickServiceEntry(obj: Obj, source: SourceRef): ConvertResult | undefined {
  const m = meta(obj.metadata, true, isDnsSubdomain);
  const s = obj.spec;
  if (!m || !isObj(s)) return undefined;
  const hosts = list(s.hosts, (h) =>
    typeof h === 'string' && (isHostname(h) || isWildcardHost(h)) ? normalizeHost(h) : undefined,
  );
  const addresses = list(s.addresses, (a) =>
    typeof a === 'string' && (isIPAddress(a) || isCidr(a)) ? a : undefined,
  );
  const ports = list(s.ports, entryPort);
  const exportTo = list(s.exportTo, (t) => (typeof t === 'string' && isExportTarget(t) ? t : undefined));
  if (!hosts || hosts.length === 0 || !addresses || !ports || !exportTo) return undefined;
  const { location, resolution } = s;
  if (!absent(location) && !LOCATIONS.has(str(location) ?? '')) return undefined;
  if (!absent(resolution) && !RESOLUTION_SET.has(str(resolution) ?? '')) return undefined;
  const endpoints = list(s.endpoints, (e) => entryEndpoint(e, resolution === 'STATIC'));
  if (!endpoints) return undefined;
  const status = obj.status;
  let statusAddresses: { value: string; host: string }[] | undefined = NO_ITEMS;
  if (!absent(status)) {
    statusAddresses = isObj(status) ? list(status.addresses, statusAddress) : undefined;
    if (!statusAddresses) return undefined;
  }
  return ok({
    kind: 'ServiceEntry',
    meta: m,
    hosts,
    addresses,
    ports,
    // The literal, not the file's copy: one string for every entry (13 characters and more are copied
    // per value by the reader; 50,000 objects kept 25,000 "MESH_EXTERNAL"s, 0.8 MiB).
    location: location === 'MESH_INTERNAL' ? 'MESH_INTERNAL' : 'MESH_EXTERNAL',
    resolution: (resolution as (typeof RESOLUTIONS)[number] | null | undefined) ?? 'NONE',
    endpoints,
    exportTo: exportTo.length > 0 ? exportTo : EXPORT_TO_ALL,
    statusAddresses,
    source,
  });
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const ADDRESS_FAMILY: Record<string, number> = { IPv4: 4, IPv6: 6 };

export function quickEndpointSlice(obj: Obj, source: SourceRef): ConvertResult | undefined {
  const m = meta(obj.metadata, true, isDnsSubdomain);
  const type = obj.addressType;
  // FQDN slices load nothing: the zod converter says so.
  const known = absent(type) || (typeof type === 'string' && Object.hasOwn(ADDRESS_FAMILY, type));
  if (!m?.labels[SERVICE_NAME_LABEL] || !known) return undefined;
  const family = typeof type === 'string' ? ADDRESS_FAMILY[type]! : 0;
  const endpoints = list(obj.endpoints, (e): Endpoint | undefined => {
    if (!isObj(e)) return undefined;
    const addresses = list(e.addresses, (a) =>
      typeof a === 'string' && (family ? ipFamily(a) === family : isIPAddress(a)) ? a : undefined,
    );
    if (!addresses || addresses.length === 0 || !Array.isArray(e.addresses)) return undefined;
    const c = e.conditions;
    if (!absent(c) && !(isObj(c) && (absent(c.ready) || typeof c.ready === 'boolean'))) return undefined;
    const h = e.hostname;
    if (!absent(h) && !(typeof h === 'string' && isDnsLabel(h))) return undefined;
    const ready = isObj(c) ? (c.ready as boolean | null | undefined) : undefined;
    const endpoint: Endpoint = { addresses, ready: ready ?? true };
    if (h) endpoint.hostname = h as string;
    return endpoint;
  });
  if (!endpoints) return undefined;
  return ok({
    kind: 'EndpointSlice',
    meta: m,
    serviceName: m.labels[SERVICE_NAME_LABEL]!,
    endpoints,
    source,
  });
}

export function quickNamespace(obj: Obj, source: SourceRef): ConvertResult | undefined {
  const m = meta(obj.metadata, false, isDnsLabel);
  return m && ok({ kind: 'Namespace', meta: m, source });
}
