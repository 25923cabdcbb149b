// The controller's own status writes come back through the source as changed ServiceEntries (issue 10: the
// start-up writes 10,000 of them). What differs only in status.addresses changes no name and no VIP: the
// views take the new objects without deriving any host again, and the entries stay theirs to edit and
// delete afterwards.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { vipRanges } from '../../src/allocate/index.js';
import { MeshViews } from '../../src/controller/index.js';
import { emptyResources, type Resource, type ServiceEntry } from '../../src/model/index.js';
import {
  agentNode,
  decodeNameTable,
  NAME_TABLE_TYPE_URL,
  type XdsSubscription,
} from '../../src/xds/index.js';
import { serviceEntry } from '../helpers/resources.js';

const ranges = vipRanges('240.240.0.0/16', '2001:2::/48');
const ON = { DNS_CAPTURE: 'true', DNS_AUTO_ALLOCATE: 'true' };

/** The hosts and IPs a subscription's table holds now. */
function table(sub: XdsSubscription): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [, named] of sub.named(NAME_TABLE_TYPE_URL)!.resources)
    for (const [host, info] of decodeNameTable(named.resource.value)) out[host] = info.ips;
  return out;
}

/** A mesh of entries, and the views over it with one agent in each of two namespaces. */
function mesh() {
  const db = serviceEntry('shop', 'db', ['db.example.com'], { resolution: 'DNS' });
  const api = serviceEntry('shop', 'api', ['api.example.com'], { addresses: ['192.0.2.10'] });
  const local = serviceEntry('shop', 'local', ['local.example.com'], {
    resolution: 'DNS',
    exportTo: ['.'],
  });
  let entries: ServiceEntry[] = [db, api, local];
  const views = new MeshViews({ ranges, previous: [], graceMs: 0 });
  let seq = 1;
  views.update({ ...emptyResources(), serviceEntries: entries }, { now: 0 }, { seq });
  const subs = ['shop', 'web'].map((ns) =>
    views.subscribe(agentNode({ podName: `app-${ns}`, namespace: ns, metadata: ON })),
  );
  /** Replaces entries (by namespace/name) or deletes them (null), as a source's delta says. */
  const edit = (changes: [ServiceEntry, ServiceEntry | null][]) => {
    const removed: Resource[] = changes.map(([old]) => old);
    const added: Resource[] = changes.flatMap(([, now]) => (now ? [now] : []));
    entries = entries.flatMap((e) => {
      const c = changes.find(([old]) => old === e);
      return c ? (c[1] ? [c[1]] : []) : [e];
    });
    const base = seq++;
    return views.update(
      { ...emptyResources(), serviceEntries: entries },
      { now: 0 },
      { seq, delta: { base, removed, added } },
    );
  };
  /** The entry as the controller wrote its status: the allocation's VIPs, read back. */
  const written = (se: ServiceEntry): ServiceEntry => {
    const statusAddresses = se.hosts.flatMap((host) => {
      const vips = views.allocation!.vips(se, host);
      return vips ? [vips.v4, vips.v6].flatMap((value) => (value ? [{ value, host }] : [])) : [];
    });
    return { ...se, statusAddresses };
  };
  return { views, subs, edit, written, db, api, local };
}

describe('status read back', () => {
  it('derives no host again in any view, and changes no table', () => {
    const { subs, edit, written, db, local } = mesh();
    const before = subs.map(table);
    const sequences = subs.map((s) => s.named(NAME_TABLE_TYPE_URL)!.sequence);
    const update = edit([
      [db, written(db)],
      [local, written(local)],
    ]);
    assert.equal(update.hostsRebuilt, 0);
    assert.equal(update.viewsChanged, 0);
    assert.deepEqual(subs.map(table), before);
    assert.deepEqual(
      subs.map((s) => s.named(NAME_TABLE_TYPE_URL)!.sequence),
      sequences,
    );
  });

  it('leaves the read-back entries to later edits and deletions', () => {
    const { subs, edit, written, db, api } = mesh();
    const db2 = written(db);
    const api2 = { ...api, statusAddresses: [{ value: '192.0.2.99', host: 'api.example.com' }] };
    edit([
      [db, db2],
      [api, api2],
    ]);
    // A real edit after the read-back: the view holds the new object, so the edit replaces it.
    const api3 = { ...api2, addresses: ['192.0.2.11'] };
    const edited = edit([[api2, api3]]);
    assert.equal(edited.hostsRebuilt, 2, 'the one host, in each of the two views');
    for (const sub of subs) assert.deepEqual(table(sub)['api.example.com'], ['192.0.2.11']);
    const deleted = edit([[db2, null]]);
    assert.ok(deleted.hostsRebuilt > 0);
    for (const sub of subs) assert.equal(table(sub)['db.example.com'], undefined);
  });

  it('a spec change that comes with a status change is built as usual', () => {
    const { subs, edit, written, db } = mesh();
    const moved = { ...written(db), hosts: ['db2.example.com'] };
    const update = edit([[db, moved]]);
    assert.ok(update.hostsRebuilt > 0);
    for (const sub of subs) {
      assert.equal(table(sub)['db.example.com'], undefined);
      assert.ok(table(sub)['db2.example.com']);
    }
  });
});
