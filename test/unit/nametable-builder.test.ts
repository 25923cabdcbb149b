import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildTableRecords,
  TableBuilder,
  type TableScope,
  type VipLookup,
} from '../../src/nametable/index.js';
import {
  editRandomFile,
  type Giver,
  HOSTS,
  NAMES,
  NAMESPACES,
  plainRecords as plain,
  prng,
  snapshot,
  toResources,
} from '../helpers/random-mesh.js';
import { endpoints, sampleMesh, service, serviceEntry } from '../helpers/resources.js';

const scope: TableScope = {
  namespace: 'default',
  clusterDomain: 'cluster.local',
  searchDomains: ['default.svc.cluster.local', 'svc.cluster.local'],
};

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
        editRandomFile(pick, files);
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

  it('merges addresses in the order they came, each once, however many a host has', () => {
    const builder = new TableBuilder(scope);
    // A headless Service with more endpoints than a list is searched for (then a set takes over),
    // repeating addresses across endpoints and slices, IPv6 in two cases.
    const many = Array.from({ length: 40 }, (_, i) => ({ addresses: [`10.0.0.${i % 25}`], ready: true }));
    const v6 = [
      { addresses: ['FD00::1'], ready: true },
      { addresses: ['fd00::1', '10.0.0.3'], ready: true },
    ];
    const few = [{ addresses: ['10.0.0.7', '10.0.0.99'], ready: true }];
    builder.update({
      added: [
        service('data', 'db', [], { headless: true }),
        endpoints('data', 'db', [...many, ...v6]),
        endpoints('data', 'db', few),
        // Two entries for one host: the second's addresses after the first's, the shared one once.
        serviceEntry('ns', 'a', ['api.example.com'], { addresses: ['10.1.0.1', '10.1.0.2'] }),
        serviceEntry('ns', 'b', ['api.example.com'], { addresses: ['10.1.0.2', '10.1.0.3', '10.1.0.1'] }),
      ],
    });
    const record = (name: string) => [...builder.records.exact.values()].find((r) => r.name === name);
    const db = record('db.data.svc.cluster.local.');
    assert.deepEqual(db?.ipv4, [...Array.from({ length: 25 }, (_, i) => `10.0.0.${i}`), '10.0.0.99']);
    assert.deepEqual(db?.ipv6, ['fd00::1']);
    const api = record('api.example.com.');
    assert.deepEqual(api?.ipv4, ['10.1.0.1', '10.1.0.2', '10.1.0.3']);
    assert.deepEqual(api?.ipv6, []);
  });
});
