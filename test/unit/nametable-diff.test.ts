// Table diffs (issue 8): the agent applies what changed instead of rebuilding the table. Applying the
// diffs of a run of edits must give exactly the table built from scratch, and a name the edit did not
// touch keeps its entry (and so its place in the address rotation).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nameToKey } from '../../src/dns/index.js';
import { emptyResources, type Resources } from '../../src/model/index.js';
import {
  buildTableRecords,
  diffTables,
  NameTable,
  packSet,
  type TableRecord,
  type TableRecords,
  type TableScope,
  timeSlicer,
  unpackSet,
} from '../../src/nametable/index.js';
import { service, serviceEntry } from '../helpers/resources.js';

const scope: TableScope = {
  namespace: 'default',
  clusterDomain: 'cluster.local',
  searchDomains: ['default.svc.cluster.local'],
};

function mesh(edit: (r: Resources) => void = () => {}): Resources {
  const r = emptyResources();
  for (let i = 0; i < 300; i++)
    r.services.push(service(`ns${i % 3}`, `svc${i}`, [`10.0.${i >> 8}.${i & 255}`]));
  r.serviceEntries.push(
    serviceEntry('default', 'wild', ['*.wiki.example.org'], { addresses: ['192.0.2.1'] }),
    serviceEntry('default', 'api', ['api.example.com'], { addresses: ['192.0.2.2', '192.0.2.3'] }),
  );
  edit(r);
  return r;
}

const view = (t: NameTable) => t.records().map((r) => JSON.stringify(r));

/** Every slice boundary taken, to exercise the pauses. */
const everyStep = { due: () => true, pause: () => new Promise<void>((r) => setImmediate(r)) };

const edits: { name: string; edit: (r: Resources) => void }[] = [
  { name: 'nothing', edit: () => {} },
  { name: 'a Service address changed', edit: (r) => (r.services[7]!.clusterIPs = ['10.9.9.9']) },
  { name: 'Services removed', edit: (r) => r.services.splice(10, 50) },
  {
    name: 'a wildcard changed',
    edit: (r) => (r.serviceEntries[0]!.addresses = ['192.0.2.9']),
  },
  {
    name: 'a wildcard added',
    edit: (r) =>
      r.serviceEntries.push(
        serviceEntry('default', 'w2', ['*.docs.example.org'], { addresses: ['192.0.2.4'] }),
      ),
  },
];

describe('table diffs', () => {
  for (const e of edits) {
    it(`applied in slices, give the table built from scratch: ${e.name}`, async () => {
      const before = buildTableRecords(mesh(), scope);
      const after = buildTableRecords(mesh(e.edit), scope);
      const first = await NameTable.empty().withDiff(diffTables(undefined, before), everyStep);
      assert.deepEqual(view(first), view(NameTable.fromRecords(before)));
      const second = await first.withDiff(diffTables(before, after), timeSlicer(1));
      assert.deepEqual(view(second), view(NameTable.fromRecords(after)));
      assert.equal(second.size, NameTable.fromRecords(after).size);
    });
  }

  it('sends only what changed', () => {
    const before: TableRecords = buildTableRecords(mesh(), scope);
    const after = buildTableRecords(
      mesh((r) => {
        r.services[7]!.clusterIPs = ['10.9.9.9'];
      }),
      scope,
    );
    const diff = diffTables(before, after);
    // The host, its two alternate names, the short alias (ns1 is not the workload's namespace: none)
    // and the search shortcuts of each.
    assert.ok(diff.set.length > 0 && diff.set.length <= 6, `${diff.set.length} names sent`);
    assert.deepEqual(diff.remove, []);
    assert.equal(diff.wildcards, undefined);
    assert.equal(diff.searchWildcards, undefined);
  });

  it('keeps the entry of an unchanged name, and with it the rotation', async () => {
    const before = buildTableRecords(mesh(), scope);
    const t1 = await NameTable.empty().withDiff(diffTables(undefined, before), everyStep);
    const key = nameToKey('api.example.com.');
    const entry = t1.lookup(key);
    const after = buildTableRecords(
      mesh((r) => r.services.splice(0, 1)),
      scope,
    );
    const t2 = await t1.withDiff(diffTables(before, after), everyStep);
    assert.equal(t2.lookup(key), entry);
    assert.equal(t1.lookup(nameToKey('svc0.ns0.svc.cluster.local.')) !== undefined, true);
    assert.equal(t2.lookup(nameToKey('svc0.ns0.svc.cluster.local.')), undefined, 'removed');
    assert.notEqual(
      t1.lookup(nameToKey('svc0.ns0.svc.cluster.local.')),
      undefined,
      'the old table is unchanged',
    );
  });

  it('a diff whose names came ahead in parts gives the same table as the whole diff', async () => {
    const before = buildTableRecords(mesh(), scope);
    const after = buildTableRecords(
      mesh((r) => r.services.splice(10, 50)),
      scope,
    );
    const base = await NameTable.empty().withDiff(diffTables(undefined, before), everyStep);
    const whole = diffTables(before, after);
    const init = diffTables(undefined, after);
    const parts = [packSet(init.set.slice(0, 100)), packSet(init.set.slice(100, 250))];
    const fromEmpty = await NameTable.empty().withDiff(
      { ...init, set: init.set.slice(250) },
      everyStep,
      parts,
    );
    assert.deepEqual(view(fromEmpty), view(NameTable.fromRecords(after)));
    const edited = await base.withDiff({ ...whole, set: [] }, everyStep, [packSet(whole.set)]);
    assert.deepEqual(view(edited), view(NameTable.fromRecords(after)));
  });

  it('a table whose names came packed into empty shards answers each name, and later diffs apply on it', async () => {
    // Names whose keys hold a line feed (a label of 10 characters) among them.
    const before = buildTableRecords(
      mesh((r) => r.services.push(service('default', 'abcdefghij', ['10.8.0.1']))),
      scope,
    );
    const init = diffTables(undefined, before);
    const parts = [packSet(init.set.slice(0, 200)), packSet(init.set.slice(200))];
    const packed = await NameTable.empty().withDiff({ ...init, set: [] }, everyStep, parts);
    const whole = NameTable.fromRecords(before);
    assert.equal(packed.size, whole.size);
    // Asked one at a time (each first question makes its shard's map), every name as built.
    for (const [key, record] of before.exact) {
      assert.deepEqual(packed.lookup(key)?.record, record, JSON.stringify(key));
    }
    assert.equal(packed.lookup(nameToKey('nothing.example.')), undefined);
    // A second table from the same parts, none of its names asked yet: an edit applies on it, and the
    // first table is unchanged by it.
    const fresh = await NameTable.empty().withDiff({ ...init, set: [] }, everyStep, parts);
    const after = buildTableRecords(
      mesh((r) => {
        r.services.splice(3, 40);
        r.services[60]!.clusterIPs = ['10.9.9.8'];
      }),
      scope,
    );
    const edit = diffTables(before, after);
    const edited = await fresh.withDiff({ ...edit, set: edit.set.slice(1) }, everyStep, [
      packSet(edit.set.slice(0, 1)),
    ]);
    assert.deepEqual(view(edited), view(NameTable.fromRecords(after)));
    assert.equal(edited.size, NameTable.fromRecords(after).size);
    assert.deepEqual(view(fresh), view(whole));
    // The same edit, packed, on the table whose names were all asked (each shard a map of names now).
    const onAsked = await packed.withDiff({ ...edit, set: [] }, everyStep, [packSet(edit.set)]);
    assert.deepEqual(view(onAsked), view(NameTable.fromRecords(after)));
    // Handed on whole (an answering worker, the snapshot) with shards never asked.
    const again = await NameTable.empty().withDiff({ ...init, set: [] }, everyStep, parts);
    const handed = again.toDiff(50)!;
    const copy = await NameTable.empty(scope).withDiff(handed.diff, everyStep, handed.packed);
    assert.deepEqual(view(copy), view(whole));
  });

  it('a packed set gives back every key and record, whatever bytes a key holds', () => {
    // A label of 10 characters has the length byte 0x0a, a line feed; a record may hold one escaped.
    const set: [string, TableRecord][] = [
      ['abcdefghij.example.', 'line\nfeed'],
      ['a.b.', 'x'],
      [`${'x'.repeat(63)}.y.`, 'z'],
    ].map(([name, origin]) => [
      nameToKey(name!),
      { name: name!, kind: 'host', cnames: [], ipv4: ['10.0.0.1'], ipv6: [], origin: origin! },
    ]);
    const back = [...unpackSet(packSet(set))];
    assert.deepEqual(
      back.map(([k, json]) => [k, JSON.parse(json)]),
      set,
    );
    assert.deepEqual([...unpackSet(packSet([]))], []);
  });
});

describe('timeSlicer', () => {
  it('reads the clock every checkEvery operations, a power of two', () => {
    // A budget already spent: every reading of the clock finds the slice used up.
    const every = (n: number) => {
      const slicer = timeSlicer(-1, n);
      return Array.from({ length: 8 }, () => slicer.due());
    };
    assert.deepEqual(every(1), [true, true, true, true, true, true, true, true]);
    assert.deepEqual(every(4), [false, false, false, true, false, false, false, true]);
    assert.throws(() => timeSlicer(4, 3), /not a power of two/);
  });
});
