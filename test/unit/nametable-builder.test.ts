import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type EndpointSet,
  emptyResources,
  type Resources,
  type Service,
  type ServiceEntry,
  type SourceRef,
} from '../../src/model/index.js';
import {
  buildTableRecords,
  TableBuilder,
  type TableRecords,
  type TableScope,
  type VipLookup,
} from '../../src/nametable/index.js';
import { endpoints, sampleMesh, service, serviceEntry } from '../helpers/resources.js';

const scope: TableScope = {
  namespace: 'default',
  clusterDomain: 'cluster.local',
  searchDomains: ['default.svc.cluster.local', 'svc.cluster.local'],
};

/** A small deterministic PRNG (mulberry32): the same seed replays the same edits. */
function prng(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const plain = (records: TableRecords) => ({
  exact: [...records.exact].sort(([a], [b]) => (a < b ? -1 : 1)),
  wildcards: [...records.wildcards].sort(([a], [b]) => (a < b ? -1 : 1)),
  searchWildcards: [...records.searchWildcards].sort(([a], [b]) => (a < b ? -1 : 1)),
});

// Names chosen to collide: services and entries share hosts, aliases meet real hosts, ExternalNames
// point at each other and at aliases, endpoints give hostnames, wildcards overlap.
const NAMES = ['a', 'b', 'c', 'db'];
const NAMESPACES = ['default', 'prod'];
const HOSTS = [
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

type Giver = Service | EndpointSet | ServiceEntry;

function randomResource(pick: (n: number) => number, file: number, doc: number): Giver {
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
      return serviceEntry(ns, `se-${name}`, hosts, { source, addresses, exportTo });
    }
  }
}

/** The folder's snapshot: files in order, and the first object of each kind/namespace/name (as the source keeps). */
function snapshot(files: Map<number, Giver[]>): Giver[] {
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

function toResources(list: Giver[]): Resources {
  const res = emptyResources();
  for (const r of list) {
    if (r.kind === 'Service') res.services.push(r);
    else if (r.kind === 'ServiceEntry') res.serviceEntries.push(r);
    else if (r.kind === 'EndpointSlice' || r.kind === 'Endpoints') res.endpoints.push(r);
  }
  return res;
}

describe('TableBuilder', () => {
  it('builds the same table in one go as buildTableRecords does for the sample mesh', () => {
    const vips: VipLookup = () => ({ v4: '240.240.0.1', v6: '2001:2::1' });
    const builder = new TableBuilder(scope, vips);
    const res = sampleMesh();
    const change = builder.update({ added: [...res.services, ...res.endpoints, ...res.serviceEntries] });
    assert.deepEqual(plain(builder.records), plain(buildTableRecords(res, scope, vips)));
    assert.equal(change.set.length, builder.records.exact.size);
    assert.ok(change.wildcards);
  });

  it('after every random edit, matches a fresh build and reports exactly the names that changed', () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const pick = prng(seed);
      // VIPs by host, changed now and then like the allocator's.
      const vipOf = new Map<string, number>();
      const vips: VipLookup = (se, host) => {
        const n = vipOf.get(`${se.meta.namespace}/${se.meta.name}/${host}`) ?? 1;
        return { v4: `240.240.0.${n}`, v6: `2001:2::${n}` };
      };
      const files = new Map<number, Giver[]>();
      const builder = new TableBuilder(scope, vips);
      let previous = new Map<string, string>();
      let before: Giver[] = [];
      for (let step = 0; step < 150; step++) {
        const file = pick(6);
        const docs =
          pick(5) === 0
            ? []
            : Array.from({ length: 1 + pick(3) }, (_, doc) => randomResource(pick, file, doc));
        if (docs.length > 0) files.set(file, docs);
        else files.delete(file);
        // The delta the controller computes: objects (by identity) that left the snapshot and came.
        const after = snapshot(files);
        const removed = before.filter((r) => !after.includes(r));
        const added = after.filter((r) => !before.includes(r));
        before = after;
        const vipsChanged: string[] = [];
        if (pick(4) === 0) {
          const host = HOSTS[pick(HOSTS.length)]!;
          const key = `${NAMESPACES[pick(2)]}/se-${NAMES[pick(NAMES.length)]}/${host}`;
          vipOf.set(key, 2 + pick(200));
          vipsChanged.push(key);
        }
        const change = builder.update({ removed, added, vipsChanged });
        const fresh = buildTableRecords(toResources(after), scope, vips);
        assert.deepEqual(plain(builder.records), plain(fresh), `seed ${seed} step ${step}`);
        const now = new Map([...fresh.exact].map(([k, r]) => [k, JSON.stringify(r)]));
        const moved = [...now].filter(([k, r]) => previous.get(k) !== r).map(([k]) => k);
        const gone = [...previous.keys()].filter((k) => !now.has(k));
        assert.deepEqual(change.set.sort(), moved.sort(), `seed ${seed} step ${step}: set`);
        assert.deepEqual(change.remove.sort(), gone.sort(), `seed ${seed} step ${step}: remove`);
        previous = now;
      }
    }
  });
});
