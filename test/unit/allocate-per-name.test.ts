// Issue 14 item 5: per-name VIPs under wildcard ServiceEntries. Which wildcards qualify, the names an
// entry holds (cap, rate, idle expiry), how they become hosts the allocator serves and the state file
// keeps, and the table and routes a workload gets. Time is passed in, never slept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allocate,
  PER_NAME_LABEL,
  PerNameHosts,
  type PerNameLimits,
  parseState,
  perNameWildcard,
  serializeState,
  underWildcard,
  vipRanges,
} from '../../src/allocate/index.js';
import { LiveView } from '../../src/controller/index.js';
import { entryFor, PerNameKeeper } from '../../src/controller/per-name.js';
import { nameToKey } from '../../src/dns/index.js';
import { emptyResources, type Resolution, type ServiceEntry } from '../../src/model/index.js';
import { serviceEntry } from '../helpers/resources.js';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const ranges = vipRanges('240.240.0.0/24', '2001:2::/120');
const LIMITS: PerNameLimits = { cap: 3, ratePerSecond: 2, idleMs: 24 * HOUR };

function wild(
  name = 'dbs',
  opts: { resolution?: Resolution; label?: string; addresses?: string[]; ns?: string } = {},
): ServiceEntry {
  const labels: Record<string, string> = opts.label === undefined ? {} : { [PER_NAME_LABEL]: opts.label };
  return serviceEntry(opts.ns ?? 'default', name, ['*.db.example.com'], {
    resolution: opts.resolution ?? 'DNS',
    addresses: opts.addresses ?? [],
    ports: [{ number: 5432, protocol: 'TCP', name: 'pg' }],
    meta: { name, namespace: opts.ns ?? 'default', labels, annotations: {} },
  });
}

/** Every copy `se` has now, one per name it holds. */
const copiesOf = (hosts: PerNameHosts, se: ServiceEntry) =>
  hosts.names(se).flatMap((n) => hosts.copy(se, n) ?? []);

describe('per-name wildcards: which entries qualify', () => {
  const cases: { name: string; se: ServiceEntry; host?: string; want: boolean }[] = [
    { name: 'the label "true"', se: wild('a', { label: 'true' }), want: true },
    { name: 'the label in another case', se: wild('a', { label: 'TRUE' }), want: true },
    { name: 'resolution DYNAMIC_DNS', se: wild('a', { resolution: 'DYNAMIC_DNS' }), want: true },
    { name: 'neither', se: wild('a'), want: false },
    { name: 'the label "false"', se: wild('a', { label: 'false' }), want: false },
    { name: 'resolution NONE', se: wild('a', { label: 'true', resolution: 'NONE' }), want: false },
    { name: 'addresses of its own', se: wild('a', { label: 'true', addresses: ['10.0.0.1'] }), want: false },
    { name: 'an exact host', se: wild('a', { label: 'true' }), host: 'x.db.example.com', want: false },
  ];
  for (const c of cases)
    it(c.name, () => assert.equal(perNameWildcard(c.se, c.host ?? '*.db.example.com'), c.want));

  it('a name lies under a wildcard by one label or more, never the suffix itself', () => {
    assert.equal(underWildcard('a.db.example.com', '*.db.example.com'), true);
    assert.equal(underWildcard('x.a.db.example.com', '*.db.example.com'), true);
    assert.equal(underWildcard('db.example.com', '*.db.example.com'), false);
    assert.equal(underWildcard('adb.example.com', '*.db.example.com'), false);
  });
});

describe('per-name names: cap, rate, idle expiry', () => {
  const se = wild('dbs', { label: 'true' });
  const W = '*.db.example.com';

  it('names past the cap are refused, a known one is always answered', () => {
    const hosts = new PerNameHosts({ ...LIMITS, ratePerSecond: 100 });
    const got = ['a', 'b', 'c', 'd', 'a'].map((n) => hosts.ask(se, W, `${n}.db.example.com`, T0));
    assert.deepEqual(got, ['added', 'added', 'added', 'cap', 'known']);
  });

  it('new names come at most at the rate, a token bucket that refills with time', () => {
    const hosts = new PerNameHosts({ ...LIMITS, cap: 100 });
    const at = (n: string, t: number) => hosts.ask(se, W, `${n}.db.example.com`, t);
    assert.deepEqual([at('a', T0), at('b', T0), at('c', T0)], ['added', 'added', 'rate']);
    assert.equal(at('c', T0 + 499), 'rate', 'half a second gives 0.998 of a name');
    assert.equal(at('c', T0 + 500), 'added');
  });

  it('a name not asked for idleMs is dropped; a touch or a question keeps it', () => {
    const hosts = new PerNameHosts(LIMITS);
    hosts.ask(se, W, 'a.db.example.com', T0);
    hosts.ask(se, W, 'b.db.example.com', T0);
    hosts.takeChanged();
    hosts.touch(['a.db.example.com'], T0 + 20 * HOUR);
    assert.equal(hosts.expire(T0 + 24 * HOUR - 1), 0);
    assert.equal(hosts.expire(T0 + 24 * HOUR), 1, 'b, asked at T0, goes');
    assert.deepEqual(
      [...hosts.takeChanged()].map(([k, n]) => [k, [...n]]),
      [['default/dbs', ['b.db.example.com']]],
    );
    assert.equal(hosts.askedAt('default', 'dbs', 'a.db.example.com'), T0 + 20 * HOUR);
    assert.equal(hosts.askedAt('default', 'dbs', 'b.db.example.com'), undefined);
  });

  it('one copy of the entry per name, its one host; the same object while the name is held', () => {
    const hosts = new PerNameHosts(LIMITS);
    assert.deepEqual(copiesOf(hosts, se), [], 'no names: no copies');
    hosts.ask(se, W, 'b.db.example.com', T0);
    hosts.ask(se, W, 'a.db.example.com', T0);
    assert.deepEqual(
      copiesOf(hosts, se).map((c) => [c.hosts, c.perNameOf, c.meta.name, c.ports]),
      [
        [['b.db.example.com'], W, 'dbs', se.ports],
        [['a.db.example.com'], W, 'dbs', se.ports],
      ],
    );
    const a = hosts.copy(se, 'a.db.example.com');
    hosts.ask(se, W, 'a.db.example.com', T0 + 1);
    hosts.ask(se, W, 'c.db.example.com', T0 + 1000);
    assert.equal(hosts.copy(se, 'a.db.example.com'), a, 'the same object while held');
    assert.deepEqual(
      [...hosts.takeChanged()].map(([k, n]) => [k, [...n]]),
      [['default/dbs', ['b.db.example.com', 'a.db.example.com', 'c.db.example.com']]],
      'the names that came, each once',
    );
    assert.equal(hosts.copy(se, 'x.db.example.com'), undefined);
  });

  it('an entry that stops being per-name has no copies', () => {
    const hosts = new PerNameHosts(LIMITS);
    hosts.ask(se, W, 'a.db.example.com', T0);
    assert.deepEqual(copiesOf(hosts, wild('dbs', { label: 'false' })), []);
  });

  it('restore takes the present per-name records of a state file, with when they were asked', () => {
    const hosts = new PerNameHosts(LIMITS);
    const rec = { namespace: 'default', name: 'dbs', v4: '240.240.0.1', v6: '2001:2::1', wildcard: W };
    hosts.restore(
      [
        { ...rec, host: 'a.db.example.com', askedAt: new Date(T0).toISOString() },
        { ...rec, host: 'b.db.example.com', absentSince: new Date(T0).toISOString() },
        { namespace: 'default', name: 'other', host: 'x.example.com', v4: '240.240.0.9' },
      ],
      T0 + HOUR,
    );
    assert.deepEqual(hosts.names(se), ['a.db.example.com']);
    assert.equal(hosts.askedAt('default', 'dbs', 'a.db.example.com'), T0);
  });
});

describe('per-name names as hosts of their entry', () => {
  const W = '*.db.example.com';

  it('each name gets a VIP pair of its own, kept in the state with its wildcard', () => {
    const se = wild('dbs', { label: 'true' });
    const hosts = new PerNameHosts(LIMITS);
    hosts.ask(se, W, 'a.db.example.com', T0);
    hosts.ask(se, W, 'b.db.example.com', T0);
    const out = allocate([se, ...copiesOf(hosts, se)], [], ranges, { now: T0, graceMs: 600_000 });
    const vips = out.hosts.map((h) => [h.host, h.state, h.v4 ?? null]);
    assert.deepEqual(vips, [
      ['*.db.example.com', 'wildcard', null],
      ['a.db.example.com', 'new', '240.240.0.1'],
      ['b.db.example.com', 'new', '240.240.0.2'],
    ]);
    assert.deepEqual(
      out.state.map((r) => [r.host, r.wildcard]),
      [
        ['a.db.example.com', W],
        ['b.db.example.com', W],
      ],
    );
  });

  it('an expired name is held for the grace period, then held back', () => {
    const se = wild('dbs', { label: 'true' });
    const hosts = new PerNameHosts(LIMITS);
    hosts.ask(se, W, 'a.db.example.com', T0);
    const opts = { graceMs: 600_000, holdbackMs: HOUR };
    const first = allocate([se, ...copiesOf(hosts, se)], [], ranges, { now: T0, ...opts });
    hosts.expire(T0 + 24 * HOUR);
    const gone = T0 + 24 * HOUR;
    const held = allocate([se, ...copiesOf(hosts, se)], first.state, ranges, { now: gone, ...opts });
    assert.deepEqual(
      held.held.map((r) => [r.host, r.v4]),
      [['a.db.example.com', '240.240.0.1']],
    );
    const later = gone + 600_000;
    const back = allocate([se], held.state, ranges, { now: later, ...opts }, held.holdback);
    assert.deepEqual(
      back.holdback.map((h) => [h.host, h.v4]),
      [['a.db.example.com', '240.240.0.1']],
    );
  });

  it('the state file keeps wildcard and askedAt, and reports a bad one without losing the VIPs', () => {
    const rec = {
      namespace: 'default',
      name: 'dbs',
      host: 'a.db.example.com',
      v4: '240.240.0.1',
      v6: '2001:2::1',
      wildcard: W,
      askedAt: new Date(T0).toISOString(),
    };
    const text = serializeState([rec]);
    assert.match(text, /"version": 2/, 'no new version: a meshdns without per-name VIPs reads it');
    const back = parseState(text, 'state.json');
    assert.ok(!('damaged' in back));
    assert.deepEqual(back.allocations, [rec]);
    const bad = parseState(
      JSON.stringify({ version: 2, allocations: [{ ...rec, wildcard: 'db', askedAt: 'yesterday' }] }),
      's',
    );
    assert.ok(!('damaged' in bad));
    assert.deepEqual(bad.allocations[0]?.v4, '240.240.0.1');
    assert.equal(bad.allocations[0]?.wildcard, undefined);
    assert.equal(bad.problems.length, 2, bad.problems.join('\n'));
  });
});

describe('the entry a name is asked under', () => {
  const W = '*.db.example.com';
  it('the oldest visible per-name entry listing the wildcard; none for a name not under it', () => {
    const younger = wild('b', { label: 'true' });
    younger.meta.creationTimestamp = '2026-01-02T00:00:00Z';
    const older = wild('c', { label: 'true' });
    older.meta.creationTimestamp = '2026-01-01T00:00:00Z';
    const hidden = wild('a', { label: 'true', ns: 'other' });
    hidden.exportTo = ['.'];
    const entries = [wild('plain'), younger, older, hidden];
    assert.equal(entryFor(entries, W, 'x.db.example.com', 'default')?.meta.name, 'c');
    assert.equal(entryFor(entries, W, 'x.example.com', 'default'), undefined);
    assert.equal(entryFor(entries, W, 'bad name.db.example.com', 'default'), undefined);
    assert.equal(entryFor([hidden], W, 'x.db.example.com', 'default'), undefined);
  });

  it('the state file learns when each name was last asked, rounded down to the expiry interval', () => {
    const keeper = new PerNameKeeper(LIMITS);
    const se = wild('dbs', { label: 'true' });
    keeper.hosts.ask(se, W, 'a.db.example.com', T0 + 61_000);
    const rec = {
      namespace: 'default',
      name: 'dbs',
      host: 'a.db.example.com',
      v4: '240.240.0.1',
      wildcard: W,
    };
    assert.deepEqual(keeper.withAskedAt([rec]), [{ ...rec, askedAt: new Date(T0 + 60_000).toISOString() }]);
  });
});

describe('a workload view with per-name names', () => {
  const W = '*.db.example.com';
  const opts = {
    scope: {
      namespace: 'default',
      clusterDomain: 'cluster.local',
      searchDomains: ['default.svc.cluster.local'],
    },
    ranges,
    graceMs: 600_000,
  };

  it('the wildcard is a per-name record; each asked name is a host with its VIPs and its route', () => {
    const res = emptyResources();
    const se = wild('dbs', { label: 'true' });
    res.serviceEntries.push(se);
    const hosts = new PerNameHosts(LIMITS);
    const live = new LiveView(ranges, [], [], hosts);
    const first = live.update(res, undefined, opts, { now: T0 }, { seq: 1 });
    const wildcard = first.view.records.wildcards.get(nameToKey('db.example.com.'));
    assert.equal(wildcard?.kind, 'per-name');
    assert.equal(first.view.records.searchWildcards.size, 0, 'no search-path form: names are asked by name');
    hosts.ask(se, W, 'a.db.example.com', T0);
    const change = { seq: 1, delta: { base: 1, removed: [], added: [] } };
    const next = live.update(res, undefined, opts, { now: T0 }, change);
    const a = next.view.records.exact.get(nameToKey('a.db.example.com.'));
    assert.deepEqual([a?.ipv4, a?.perName], [['240.240.0.1'], W]);
    const routes = next.routes.set.flatMap(([, r]) => r.map((x) => `${x.vip}:${x.port} ${x.host}`));
    assert.deepEqual(routes, ['240.240.0.1:5432 a.db.example.com', '2001:2::1:5432 a.db.example.com']);
    assert.deepEqual(
      next.vips.set.map(([, v]) => [v.host, v.perName]),
      [['a.db.example.com', W]],
    );
    assert.equal(next.stateChanged, true);
  });
});
