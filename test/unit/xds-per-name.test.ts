// Per-name VIPs in cluster mode (issue 14 item 5): the NameTable fields that mark a per-name wildcard and
// its names (read by our agent, skipped by Istio's), the PerNameVips messages, the controller's views
// holding each name as a copy of its entry for every agent that sees the entry, and the names kept in
// `status.addresses` (`host` the name) for a restart, a failover and a follower.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { PER_NAME_LABEL, PerNameHosts, type PerNameLimits, vipRanges } from '../../src/allocate/index.js';
import { MeshViews } from '../../src/controller/index.js';
import { desiredAddresses } from '../../src/controller/kube/index.js';
import { nameToKey } from '../../src/dns/index.js';
import { emptyResources, type ServiceEntry } from '../../src/model/index.js';
import {
  AgentNameTable,
  agentNode,
  decodeNameTable,
  encodeNameTable,
  NAME_TABLE_TYPE_URL,
  nameTableFromResources,
  VIP_ROUTES_TYPE_URL,
  vipRoutesFromResources,
  type XdsNameTable,
  type XdsSubscription,
} from '../../src/xds/index.js';
import {
  decodePerNameAsk,
  decodePerNameReply,
  decodePerNameTouch,
  encodePerNameAsk,
  encodePerNameReply,
  encodePerNameTouch,
} from '../../src/xds/per-name.js';
import { xdsMessages } from '../../src/xds/proto.js';
import { serviceEntry } from '../helpers/resources.js';

const W = '*.db.example.com';
const ranges = vipRanges('240.240.0.0/24', '2001:2::/120');
const LIMITS: PerNameLimits = { cap: 3, ratePerSecond: 100, idleMs: 60_000 };
const ON = { DNS_CAPTURE: 'true', DNS_AUTO_ALLOCATE: 'true' };
const SCOPE = { clusterDomain: 'cluster.local', searchDomains: [] };

function dbs(extra: Partial<ServiceEntry> = {}): ServiceEntry {
  return serviceEntry('default', 'dbs', [W], {
    resolution: 'DNS',
    ports: [{ number: 5432, protocol: 'TCP', name: 'pg' }],
    meta: { name: 'dbs', namespace: 'default', labels: { [PER_NAME_LABEL]: 'true' }, annotations: {} },
    ...extra,
  });
}

function resources(...entries: ServiceEntry[]) {
  const res = emptyResources();
  res.serviceEntries.push(...entries);
  return res;
}

function node(namespace: string) {
  return agentNode({ podName: `app-${namespace}`, namespace, metadata: ON });
}

/** What an agent of `namespace` holds: its table (as our agent builds it) and its route VIPs. */
function agentOf(sub: XdsSubscription, namespace: string) {
  return () => {
    const table = new AgentNameTable({ namespace, ...SCOPE });
    table.update(nameTableFromResources(sub.current(NAME_TABLE_TYPE_URL)!.resources));
    const routes = vipRoutesFromResources(sub.current(VIP_ROUTES_TYPE_URL)!.resources);
    return {
      records: table.records,
      table: table.table,
      vips: routes.map((r) => `${r.host} ${r.vip}:${r.port}`),
    };
  };
}

describe('NameTable fields of per-name VIPs', () => {
  const table: XdsNameTable = new Map([
    [W, { ips: [], registry: 'External', altHosts: [], perNameWildcard: true }],
    ['a.db.example.com', { ips: ['240.240.0.1'], registry: 'External', altHosts: [], perNameOf: W }],
  ]);

  it('our agent reads them back', () => {
    assert.deepEqual(decodeNameTable(encodeNameTable(table)), table);
  });

  it("Istio's nds.proto (fields 1-5 only) still reads the table: the wildcard and each name as hosts", () => {
    const root = protobuf.parse(`syntax = "proto3";
      message NameTable {
        message NameInfo { repeated string ips = 1; string registry = 2; string shortname = 3;
          string namespace = 4; repeated string alt_hosts = 5; }
        map<string, NameInfo> table = 1;
      }`).root;
    const istio = root.lookupType('NameTable');
    const read = istio.toObject(istio.decode(encodeNameTable(table)), { arrays: true });
    assert.deepEqual(read.table, {
      [W]: { ips: [], registry: 'External', altHosts: [] },
      'a.db.example.com': { ips: ['240.240.0.1'], registry: 'External', altHosts: [] },
    });
  });

  const bad: [string, XdsNameTable, RegExp][] = [
    [
      'a per-name mark on a host that is no wildcard',
      new Map([['a.b', { ips: [], registry: 'External', altHosts: [], perNameWildcard: true }]]),
      /a\.b: marked a per-name wildcard, but is no wildcard/,
    ],
    [
      'a per-name host under a wildcard not above it',
      new Map([['a.b', { ips: [], registry: 'External', altHosts: [], perNameOf: '*.c.d' }]]),
      /a\.b: per-name host under "\*\.c\.d"/,
    ],
  ];
  for (const [what, input, message] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(() => decodeNameTable(encodeNameTable(input)), message);
    });
  }
});

describe('PerNameVips messages', () => {
  it('an ask, a reply and a report read back as written', () => {
    const ask = { namespace: 'default', name: 'a.db.example.com', wildcard: W, nodeId: 'n' };
    assert.deepEqual(decodePerNameAsk(encodePerNameAsk(ask)), ask);
    const reply = { outcome: 'allocated' as const, v4: '240.240.0.1', v6: '2001:2::1' };
    assert.deepEqual(decodePerNameReply(encodePerNameReply(reply)), reply);
    const refused = { outcome: 'not-leader' as const, leader: 'meshdns-controller-0' };
    assert.deepEqual(decodePerNameReply(encodePerNameReply(refused)), refused);
    const touch = { namespace: 'default', names: ['a.db.example.com', 'b.db.example.com'], nodeId: 'n' };
    assert.deepEqual(decodePerNameTouch(encodePerNameTouch(touch)), touch);
  });

  it('an outcome a newer controller may send reads as unknown (answered without a VIP)', () => {
    const { perNameReply } = xdsMessages();
    const bytes = Buffer.from(perNameReply.encode({ outcome: 42 }).finish());
    assert.deepEqual(decodePerNameReply(bytes), { outcome: 'unknown' });
  });

  it('refuses an ask whose wildcard is none, or whose name is empty', () => {
    const ask = (name: string, wildcard: string) =>
      decodePerNameAsk(encodePerNameAsk({ namespace: 'default', name, wildcard, nodeId: '' }));
    assert.throws(() => ask('a.db.example.com', 'db.example.com'), /is no wildcard/);
    assert.throws(() => ask('', W), /PerNameAsk name "" is not a host name/);
  });
});

describe("the controller's views with per-name names", () => {
  it('every agent that sees the entry gets the name, its VIP and its route; others do not', () => {
    const hosts = new PerNameHosts(LIMITS);
    const views = new MeshViews({ ranges, previous: [], graceMs: 0, perName: hosts });
    const se = dbs({ exportTo: ['.'] });
    const res = resources(se);
    views.update(res, { now: 0 });
    const own = agentOf(views.subscribe(node('default')), 'default');
    const other = agentOf(views.subscribe(node('prod')), 'prod');
    // The wildcard is marked before any name is asked: the agent asks for the names it is asked.
    assert.equal(own().records.wildcards.get(nameToKey('db.example.com.'))?.kind, 'per-name');
    assert.equal(own().table.get(W)?.perNameWildcard, true);

    assert.equal(hosts.ask(se, W, 'a.db.example.com', 1), 'added');
    assert.equal(hosts.ask(se, W, 'b.db.example.com', 1), 'added');
    views.refresh({ now: 1 });
    const a = views.allocation!.vips(se, 'a.db.example.com')!;
    const b = views.allocation!.vips(se, 'b.db.example.com')!;
    assert.notEqual(a.v4, b.v4);
    const got = own();
    const record = got.records.exact.get(nameToKey('a.db.example.com.'))!;
    assert.deepEqual([record.ipv4, record.ipv6, record.perName], [[a.v4], [a.v6], W]);
    assert.ok(got.vips.includes(`a.db.example.com ${a.v4}:5432`), got.vips.join());
    assert.ok(got.vips.includes(`b.db.example.com ${b.v4}:5432`), got.vips.join());
    // exportTo ".": another namespace's agent has neither the wildcard nor its names.
    assert.equal(other().table.size, 0);
    assert.deepEqual(other().vips, []);

    // Expired: the name leaves every view (held, then held back, as a deleted host's VIPs).
    hosts.touch(['b.db.example.com'], 30_000);
    assert.equal(hosts.expire(61_000), 1);
    views.refresh({ now: 61_000 });
    assert.equal(own().records.exact.get(nameToKey('a.db.example.com.')), undefined);
    assert.ok(own().records.exact.get(nameToKey('b.db.example.com.')));
  });

  it('keeps each name in status.addresses with host the name, after the entry own hosts', () => {
    const hosts = new PerNameHosts(LIMITS);
    const views = new MeshViews({ ranges, previous: [], graceMs: 0, perName: hosts });
    const se = serviceEntry('default', 'dbs', ['db.example.com', W], {
      ...dbs(),
      hosts: ['db.example.com', W],
    });
    views.update(resources(se), { now: 0 });
    hosts.ask(se, W, 'b.db.example.com', 1);
    hosts.ask(se, W, 'a.db.example.com', 1);
    views.refresh({ now: 1 });
    const allocation = views.allocation!;
    const mine = allocation.hosts.filter((h) => h.namespace === 'default' && h.name === 'dbs');
    const vip = (host: string) => allocation.vips(se, host)!;
    assert.deepEqual(desiredAddresses(mine), [
      { value: vip('db.example.com').v4, host: 'db.example.com' },
      { value: vip('db.example.com').v6, host: 'db.example.com' },
      { value: vip('a.db.example.com').v4, host: 'a.db.example.com' },
      { value: vip('a.db.example.com').v6, host: 'a.db.example.com' },
      { value: vip('b.db.example.com').v4, host: 'b.db.example.com' },
      { value: vip('b.db.example.com').v6, host: 'b.db.example.com' },
    ]);
  });

  it('a restarted controller takes the names and their VIPs back from status; a follower keeps to it', () => {
    const status = [
      { value: '240.240.0.7', host: 'a.db.example.com' },
      { value: '2001:2::7', host: 'a.db.example.com' },
      // Not under the wildcard: left alone.
      { value: '240.240.0.9', host: 'other.example.com' },
    ];
    const se = dbs({ statusAddresses: status });
    const hosts = new PerNameHosts(LIMITS);
    const views = new MeshViews({ ranges, previous: [], graceMs: 0, perName: hosts });
    views.update(resources(se), { now: 0 }, undefined, 'add-first');
    assert.deepEqual(hosts.names(se), ['a.db.example.com']);
    assert.deepEqual(views.allocation!.vips(se, 'a.db.example.com'), { v4: '240.240.0.7', v6: '2001:2::7' });

    // A follower: the leader added b and released a.
    const follower = new PerNameHosts(LIMITS);
    const fviews = new MeshViews({ ranges, previous: [], graceMs: 0, perName: follower });
    fviews.update(resources(se), { now: 0 }, undefined, 'mirror');
    const next = dbs({
      statusAddresses: [
        { value: '240.240.0.8', host: 'b.db.example.com' },
        { value: '2001:2::8', host: 'b.db.example.com' },
      ],
    });
    fviews.update(resources(next), { now: 1 }, undefined, 'mirror');
    assert.deepEqual(follower.names(next), ['b.db.example.com']);
    assert.deepEqual(fviews.allocation!.vips(next, 'b.db.example.com'), {
      v4: '240.240.0.8',
      v6: '2001:2::8',
    });
    assert.equal(fviews.allocation!.vips(next, 'a.db.example.com'), undefined);
  });
});
