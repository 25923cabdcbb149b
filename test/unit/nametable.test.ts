import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { nameToKey, readQuery } from '../../src/dns/index.js';
import { emptyResources } from '../../src/model/index.js';
import { buildNameTable, type TableScope } from '../../src/nametable/index.js';
import { sampleMesh, service, serviceEntry } from '../helpers/resources.js';

const scope = (namespace: string, searchDomains = [`${namespace}.svc.cluster.local`]): TableScope => ({
  namespace,
  clusterDomain: 'cluster.local',
  searchDomains,
});

function names(ns: string, search?: string[]) {
  return buildNameTable(sampleMesh(), scope(ns, search))
    .records()
    .map((r) => `${r.name} ${r.kind}`);
}

describe('buildNameTable', () => {
  it('adds the short alias only for the workload namespace', () => {
    assert.ok(names('default').includes('productpage. alias'));
    assert.ok(!names('default').includes('checkout. alias'));
    assert.ok(names('payments').includes('checkout. alias'));
    assert.ok(!names('payments').includes('productpage. alias'));
    assert.ok(names('payments').includes('productpage.default. alias'));
  });

  it('adds search-domain shortcuts only for names not already under the first search domain', () => {
    const all = names('default');
    assert.ok(all.includes('api.partner.com.default.svc.cluster.local. search'));
    assert.ok(all.includes('checkout.payments.default.svc.cluster.local. search'));
    assert.ok(!all.some((n) => n.startsWith('productpage.default.svc.cluster.local.default.svc')));
    assert.ok(!names('default', []).some((n) => n.endsWith(' search')));
  });

  it('uses a custom cluster domain for aliases', () => {
    const r = emptyResources();
    r.services.push(service('team', 'api', ['10.0.0.1']));
    const t = buildNameTable(r, { namespace: 'team', clusterDomain: 'corp.internal', searchDomains: [] });
    assert.deepEqual(
      t.records().map((x) => x.name),
      ['api.', 'api.team.', 'api.team.svc.', 'api.team.svc.corp.internal.'],
    );
  });

  it('records where each name came from', () => {
    const t = buildNameTable(sampleMesh(), scope('default'));
    const legacy = t.records().find((r) => r.name === 'legacy.internal.');
    assert.equal(legacy?.origin, 'ServiceEntry default/legacy-a (test.yaml doc 0)');
    assert.deepEqual(legacy?.ipv4, ['192.0.2.20', '192.0.2.21']);
    const billing = t.records().find((r) => r.name === 'billing.default.svc.cluster.local.');
    assert.deepEqual(billing?.cnames, ['productpage.default.svc.cluster.local.']);
  });

  it('keeps an ExternalName to an outside name as a CNAME to chase upstream', () => {
    const r = emptyResources();
    r.services.push(service('default', 'ext', [], { externalName: 'billing.example.net' }));
    const t = buildNameTable(r, scope('default'));
    const entry = t.lookup(nameToKey('ext.default.svc.cluster.local.'));
    assert.equal(entry?.external, 'billing.example.net.');
    assert.deepEqual(entry?.record.cnames, ['billing.example.net.']);
  });

  it('follows ExternalNames through the table, whatever their order, and stops at a loop', () => {
    const fqdn = (name: string) => `${name}.default.svc.cluster.local`;
    const r = emptyResources();
    // The first in the file points at the second, which points at a ClusterIP Service.
    r.services.push(
      service('default', 'a', [], { externalName: fqdn('b') }),
      service('default', 'b', [], { externalName: fqdn('c') }),
      service('default', 'c', ['10.0.0.3']),
      service('default', 'out', [], { externalName: fqdn('ext') }),
      service('default', 'ext', [], { externalName: 'api.example.net' }),
      service('default', 'x', [], { externalName: fqdn('y') }),
      service('default', 'y', [], { externalName: fqdn('x') }),
    );
    const t = buildNameTable(r, scope('default', []));
    const answer = (name: string) => {
      const e = t.lookup(nameToKey(`${fqdn(name)}.`));
      return [e?.record.cnames, e?.record.ipv4, e?.external];
    };
    assert.deepEqual(answer('a'), [[`${fqdn('b')}.`, `${fqdn('c')}.`], ['10.0.0.3'], undefined]);
    assert.deepEqual(answer('out'), [[`${fqdn('ext')}.`, 'api.example.net.'], [], 'api.example.net.']);
    assert.deepEqual(answer('x'), [[`${fqdn('y')}.`, `${fqdn('x')}.`], [], `${fqdn('x')}.`]);
  });

  it('takes VIPs for entries without addresses from the allocator hook', () => {
    const r = emptyResources();
    r.serviceEntries.push(serviceEntry('default', 'db', ['db-a.example.com'], { resolution: 'DNS' }));
    const t = buildNameTable(r, scope('default'), () => ({ v4: '240.240.0.1', v6: '2001:2::1' }));
    const entry = t.lookup(nameToKey('db-a.example.com.'));
    assert.deepEqual([entry?.record.ipv4, entry?.record.ipv6], [['240.240.0.1'], ['2001:2::1']]);
  });

  it('looks up wildcards by the most specific suffix and never the apex', () => {
    const t = buildNameTable(sampleMesh(), scope('default'));
    assert.equal(t.lookup(nameToKey('a.deep.wiki.example.org.'))?.record.name, '*.deep.wiki.example.org.');
    assert.equal(t.lookup(nameToKey('deep.wiki.example.org.'))?.record.name, '*.wiki.example.org.');
    assert.equal(t.lookup(nameToKey('wiki.example.org.')), undefined);
    assert.equal(t.lookup(nameToKey('example.org.')), undefined);
  });
});

describe('rotation (SPEC §4: answers rotate among the addresses of a name)', () => {
  const pool = ['192.0.2.1', '192.0.2.2', '192.0.2.3'];
  const r = emptyResources();
  r.services.push(service('default', 'pool', pool));
  r.serviceEntries.push(
    serviceEntry('default', 'wild', ['*.pool.example.org'], { addresses: pool }),
    serviceEntry('default', 'exact', ['pool.example.com'], { addresses: pool }),
  );
  const table = buildNameTable(r, scope('default'));

  /** The first address of each of `n` answers to NAME, asked through the table as the server does. */
  function firsts(name: string, n: number): string[] {
    const out: string[] = [];
    for (let id = 1; id <= n; id++) {
      const query = dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ type: 'A', name }] });
      const q = readQuery(query);
      assert.ok(typeof q === 'object');
      const answer = table.lookup(q.qkey)!.respond(query, q, 512);
      const a = dnsPacket.decode(answer).answers!.filter((x) => x.type === 'A');
      out.push((a[0] as { data: string }).data);
    }
    return out;
  }

  const turns = ['192.0.2.2', '192.0.2.3', '192.0.2.1', '192.0.2.2'];
  for (const [kind, name] of [
    ['exact name', 'pool.example.com'],
    ['alias', 'pool.default'],
    ['wildcard', 'x.pool.example.org'],
    ['search shortcut', 'pool.example.com.default.svc.cluster.local'],
    ['wildcard through the search domain', 'x.pool.example.org.default.svc.cluster.local'],
  ]) {
    it(`${kind}: each answer starts one address further`, () => {
      assert.deepEqual(firsts(name!, 4), turns);
    });
  }

  it('a name under a search-path wildcard is encoded once, not per query', () => {
    const key = nameToKey('y.pool.example.org.default.svc.cluster.local.');
    const entry = table.lookup(key);
    assert.ok(entry);
    assert.equal(table.lookup(key), entry, 'the same entry answers the second query');
    assert.equal(entry.record.cnames[0], 'y.pool.example.org.');
  });
});
