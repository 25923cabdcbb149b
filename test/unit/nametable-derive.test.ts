import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nameToKey } from '../../src/dns/index.js';
import {
  buildNameTable,
  buildTableRecords,
  type TableRecord,
  type TableScope,
} from '../../src/nametable/index.js';
import { editRandomFile, type Giver, prng, snapshot, toResources } from '../helpers/random-mesh.js';

// The table holds hosts only; aliases (SPEC §3.8) and search-path shortcuts (§3.9) are derived when
// asked. This checks the derivation against the rules written out naively: every derived name
// materialised from the hosts, as the table held them before.

const SCOPES: TableScope[] = [
  {
    namespace: 'default',
    clusterDomain: 'cluster.local',
    searchDomains: ['default.svc.cluster.local', 'svc.cluster.local'],
  },
  { namespace: 'prod', clusterDomain: 'cluster.local', searchDomains: ['prod.svc.cluster.local'] },
  { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: [] },
  { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: ['example.com'] },
  {
    namespace: 'default',
    clusterDomain: 'cluster.local',
    searchDomains: ['default.svc.cluster.local'],
    hostsOnly: true,
  },
];

const fits = (name: string) =>
  name.length <= 254 &&
  name.split('.').every((l, i, a) => i === a.length - 1 || (l.length > 0 && l.length < 64));

/** Every name the table should answer exactly, by the rules, from its hosts. */
function expected(hosts: TableRecord[], scope: TableScope): Map<string, TableRecord> {
  const out = new Map(hosts.map((r) => [r.name, r]));
  const svc = `.svc.${scope.clusterDomain}.`;
  const claims = new Map<string, string>();
  if (!scope.hostsOnly) {
    for (const h of hosts.map((r) => r.name)) {
      if (!h.endsWith(svc)) continue;
      const prefix = h.slice(0, -svc.length);
      const aliases = [`${prefix}.svc.`, `${prefix}.`];
      if (prefix.endsWith(`.${scope.namespace}`) && prefix !== `.${scope.namespace}`)
        aliases.push(`${prefix.slice(0, -scope.namespace.length - 1)}.`);
      for (const a of aliases) {
        const before = claims.get(a);
        if (before === undefined || h < before) claims.set(a, h);
      }
    }
  }
  for (const [alias, host] of claims)
    if (!out.has(alias) && fits(alias)) out.set(alias, { ...out.get(host)!, name: alias, kind: 'alias' });
  const search = scope.searchDomains[0] && `${scope.searchDomains[0]}.`;
  if (search) {
    for (const r of [...out.values()]) {
      const name = `${r.name}${search}`;
      if (r.name.endsWith(`.${search}`) || out.has(name) || !fits(name)) continue;
      out.set(name, { ...r, name, kind: 'search', cnames: [r.name, ...r.cnames] });
    }
  }
  return out;
}

describe('derived names (aliases and search-path shortcuts)', () => {
  it('answers and lists exactly the names the rules give, for random meshes with colliding names', () => {
    let checked = 0;
    for (const seed of [11, 12, 13, 14, 15, 16, 17, 18]) {
      const pick = prng(seed);
      const files = new Map<number, Giver[]>();
      for (let step = 0; step < 40; step++) {
        editRandomFile(pick, files);
        const res = toResources(snapshot(files));
        for (const scope of SCOPES) {
          const vips = () => ({ v4: '240.240.0.9' });
          const records = buildTableRecords(res, scope, vips);
          const hosts = [...records.exact.values()];
          assert.ok(
            hosts.every((r) => r.kind === 'host' || r.kind === 'endpoint'),
            'the table holds hosts only',
          );
          const want = expected(hosts, scope);
          const table = buildNameTable(res, scope, vips);
          const listed = table.records().filter((r) => !r.name.startsWith('*.'));
          const at = `seed ${seed} step ${step} ${JSON.stringify(scope)}`;
          assert.deepEqual(
            listed.map((r) => r.name),
            [...want.keys()].sort(),
            at,
          );
          for (const r of listed) {
            // Chains that loop answer as their host does, which the naive rules do not model.
            const w = want.get(r.name)!;
            if (new Set(w.cnames).size === w.cnames.length) assert.deepEqual(r, w, `${at}: ${r.name}`);
            assert.deepEqual(table.lookup(nameToKey(r.name))?.record, r, `${at}: lookup ${r.name}`);
            checked++;
          }
        }
      }
    }
    assert.ok(checked > 10_000, `checked ${checked}`);
  });
});
