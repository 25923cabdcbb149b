// A random mesh for tests that compare an incremental result with a fresh build: a few files of
// Services, endpoints and ServiceEntries whose names collide on purpose, edited one file at a time.
import {
  type EndpointSet,
  emptyResources,
  type Resources,
  type Service,
  type ServiceEntry,
  type SourceRef,
} from '../../src/model/index.js';
import type { TableRecords } from '../../src/nametable/index.js';
import { endpoints, service, serviceEntry } from './resources.js';

/** A table's records in key order, for deepEqual. */
export const plainRecords = (records: TableRecords) => ({
  exact: [...records.exact].sort(([a], [b]) => (a < b ? -1 : 1)),
  wildcards: [...records.wildcards].sort(([a], [b]) => (a < b ? -1 : 1)),
  searchWildcards: [...records.searchWildcards].sort(([a], [b]) => (a < b ? -1 : 1)),
});

/** A small deterministic PRNG (mulberry32): the same seed replays the same edits. */
export function prng(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

// Names chosen to collide: services and entries share hosts, aliases meet real hosts, ExternalNames
// point at each other and at aliases, endpoints give hostnames, wildcards overlap.
export const NAMES = ['a', 'b', 'c', 'db'];
export const NAMESPACES = ['default', 'prod'];
export const HOSTS = [
  'a.default.svc.cluster.local',
  'db.prod.svc.cluster.local',
  'db.prod',
  'x.example.com',
  'y.example.com',
  'c.default.svc.cluster.local',
  // Its aliases ("c.svc.", "c.") meet those of Service default/c.
  'c.svc.cluster.local',
  '*.wiki.example.org',
  '*.example.com',
];

export type Giver = Service | EndpointSet | ServiceEntry;

export function randomResource(pick: (n: number) => number, file: number, doc: number): Giver {
  const source: SourceRef = { file: `f${file}.yaml`, doc };
  const ns = NAMESPACES[pick(NAMESPACES.length)]!;
  const name = NAMES[pick(NAMES.length)]!;
  const ip = (i: number) => (pick(4) === 0 ? `2001:db8::${i}` : `10.0.${file}.${i}`);
  switch (pick(5)) {
    case 0:
      return service(ns, name, pick(4) === 0 ? [] : [ip(doc + 1)], { source });
    case 1:
      return service(ns, name, [], { source, headless: true, publishNotReadyAddresses: pick(2) === 0 });
    case 2: {
      const target = pick(2) === 0 ? `${NAMES[pick(NAMES.length)]}.${ns}.svc.cluster.local` : HOSTS[pick(3)]!;
      return service(ns, name, [], { source, externalName: target });
    }
    case 3:
      return endpoints(ns, name, [
        { addresses: [ip(50 + doc)], ready: pick(3) !== 0, hostname: pick(2) === 0 ? 'pod-0' : undefined },
        { addresses: [ip(60 + doc)], ready: true, hostname: pick(2) === 0 ? 'pod-1' : undefined },
      ]);
    default: {
      const hosts = [HOSTS[pick(HOSTS.length)]!, ...(pick(2) === 0 ? [HOSTS[pick(HOSTS.length)]!] : [])];
      const addresses = pick(3) === 0 ? [] : [ip(100 + doc), ...(pick(3) === 0 ? ['10.9.0.0/16'] : [])];
      const exportTo = [['*'], ['.'], ['prod']][pick(3)]!;
      const resolution = pick(2) === 0 ? 'DNS' : 'NONE';
      return serviceEntry(ns, `se-${name}`, hosts, { source, addresses, exportTo, resolution });
    }
  }
}

/** One edit of the folder: a file of one to three new objects written, or (one time in five) deleted. */
export function editRandomFile(pick: (n: number) => number, files: Map<number, Giver[]>): void {
  const file = pick(6);
  const docs =
    pick(5) === 0 ? [] : Array.from({ length: 1 + pick(3) }, (_, doc) => randomResource(pick, file, doc));
  if (docs.length > 0) files.set(file, docs);
  else files.delete(file);
}

/** The folder's snapshot: files in order, and the first object of each kind/namespace/name (as the source keeps). */
export function snapshot(files: Map<number, Giver[]>): Giver[] {
  const seen = new Set<string>();
  const out: Giver[] = [];
  for (const file of [...files.keys()].sort((a, b) => a - b)) {
    for (const r of files.get(file)!) {
      const key = `${r.kind}/${r.meta.namespace}/${r.meta.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(r);
    }
  }
  return out;
}

export function toResources(list: Giver[]): Resources {
  const res = emptyResources();
  for (const r of list) {
    if (r.kind === 'Service') res.services.push(r);
    else if (r.kind === 'ServiceEntry') res.serviceEntries.push(r);
    else if (r.kind === 'EndpointSlice' || r.kind === 'Endpoints') res.endpoints.push(r);
  }
  return res;
}
