// The controller <-> agent contract on the wire (issue 10 item 3). Field numbers are checked by decoding
// our bytes by hand, so a renumbered field in proto/ fails here even though our own encoder and decoder
// would still agree with each other; and bytes written by hand in Istio's layout decode as a table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import {
  decodeDeltaRequest,
  decodeDeltaResponse,
  encodeDeltaRequest,
  encodeDeltaResponse,
} from '../../src/xds/delta-messages.js';
import {
  agentNode,
  backoffDelay,
  decodeNameTable,
  decodeVipRoutes,
  encodeNameEntry,
  encodeNameTable,
  encodeVipRoutes,
  NAME_TABLE_TYPE_URL,
  nameTableFromResources,
  nameTableOfEntries,
  nameTableResource,
  nodeView,
  protoDir,
  VIP_ROUTES_TYPE_URL,
  type XdsNameTable,
  type XdsVipRoute,
} from '../../src/xds/index.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../src/xds/messages.js';
import { xdsMessages } from '../../src/xds/proto.js';

/** One field as read off the wire: number, wire type, and its bytes (length-delimited) or varint. */
type Field = [number, number, Uint8Array | number];

/** A message's fields in wire order, read with protobufjs's low-level Reader only. */
function fields(bytes: Uint8Array): Field[] {
  const r = protobuf.Reader.create(bytes);
  const out: Field[] = [];
  for (let i = 0; i < 1000 && r.pos < r.len; i++) {
    const tag = r.uint32();
    const [num, wire] = [tag >>> 3, tag & 7];
    if (wire === 2) out.push([num, wire, r.bytes()]);
    else if (wire === 0) out.push([num, wire, r.uint32()]);
    else throw new Error(`unexpected wire type ${wire} for field ${num}`);
  }
  return out;
}

const text = (v: Uint8Array | number) => Buffer.from(v as Uint8Array).toString('utf8');
const numbers = (fs: Field[]) => fs.map(([n]) => n);

const table: XdsNameTable = new Map([
  [
    'db.prod.svc.cluster.local',
    {
      ips: ['10.0.0.1', 'fd00::1'],
      registry: 'Kubernetes',
      shortname: 'db',
      namespace: 'prod',
      altHosts: ['db.prod'],
    },
  ],
  ['api.example.com', { ips: ['240.240.0.1'], registry: 'External', altHosts: [] }],
]);

describe('xds NameTable codec', () => {
  it('round-trips a table', () => {
    assert.deepEqual(decodeNameTable(encodeNameTable(table)), table);
    assert.deepEqual(nameTableFromResources([nameTableResource(table)]), table);
    assert.deepEqual(nameTableFromResources([]), new Map());
  });

  it('encodes a table entry by entry into the bytes of the whole table, our two fields included', () => {
    const ours: XdsNameTable = new Map([
      ...table,
      [
        'legacy.default.svc.cluster.local',
        {
          ips: [],
          registry: 'Kubernetes',
          shortname: 'legacy',
          namespace: 'default',
          altHosts: [],
          externalName: 'legacy.example.net',
          origin: 'Service default/legacy (a.yaml doc 0)',
        },
      ],
    ]);
    const entries = [...ours].map(([host, info]) => encodeNameEntry(host, info));
    assert.deepEqual(Buffer.from(Buffer.concat(entries)), Buffer.from(encodeNameTable(ours)));
    assert.deepEqual(decodeNameTable(nameTableOfEntries(entries.reverse()).value), ours);
    // ExternalName target and origin travel as fields 1001 and 1002 of NameInfo.
    const [entry] = fields(entries[0]!);
    const [, value] = fields(entry![2] as Uint8Array);
    assert.deepEqual(numbers(fields(value![2] as Uint8Array)), [2, 3, 4, 1001, 1002]);
  });

  it('writes Istio nds.proto field numbers: table=1 map entry {key=1, value=2}, NameInfo ips=1..alt_hosts=5', () => {
    const one: XdsNameTable = new Map([[...table][0]!]);
    const top = fields(encodeNameTable(one));
    assert.deepEqual(numbers(top), [1]);
    const entry = fields(top[0]![2] as Uint8Array);
    assert.deepEqual(numbers(entry), [1, 2]);
    assert.equal(text(entry[0]![2]), 'db.prod.svc.cluster.local');
    const info = fields(entry[1]![2] as Uint8Array);
    assert.deepEqual(
      info.map(([n, , v]) => [n, text(v)]),
      [
        [1, '10.0.0.1'],
        [1, 'fd00::1'],
        [2, 'Kubernetes'],
        [3, 'db'],
        [4, 'prod'],
        [5, 'db.prod'],
      ],
    );
  });

  it('proto/istio/networking/nds/v1/nds.proto reads our bytes (the .proto and the hand reader agree)', () => {
    const { nameTable } = xdsMessages();
    const decoded = nameTable.toObject(nameTable.decode(encodeNameTable(table)), { arrays: true });
    assert.deepEqual(decoded.table['db.prod.svc.cluster.local'], {
      ips: ['10.0.0.1', 'fd00::1'],
      registry: 'Kubernetes',
      shortname: 'db',
      namespace: 'prod',
      altHosts: ['db.prod'],
    });
    assert.deepEqual(decoded.table['api.example.com'], {
      ips: ['240.240.0.1'],
      registry: 'External',
      altHosts: [],
    });
  });

  it('reads a table written by hand in Istio layout (what istiod sends)', () => {
    const info = protobuf.Writer.create();
    info.uint32((1 << 3) | 2).string('192.0.2.7');
    info.uint32((2 << 3) | 2).string('External');
    const entry = protobuf.Writer.create();
    entry.uint32((1 << 3) | 2).string('Foo.Example.COM.');
    entry.uint32((2 << 3) | 2).bytes(info.finish());
    const msg = protobuf.Writer.create();
    msg.uint32((1 << 3) | 2).bytes(entry.finish());
    // Field 2 (name_info) and an unknown field 9 are skipped.
    msg.uint32((2 << 3) | 2).bytes(new Uint8Array());
    msg.uint32((9 << 3) | 0).uint32(1);
    assert.deepEqual(
      decodeNameTable(msg.finish()),
      new Map([['foo.example.com', { ips: ['192.0.2.7'], registry: 'External', altHosts: [] }]]),
    );
  });

  const bad: [string, XdsNameTable | Uint8Array, RegExp][] = [
    [
      'an IP that is not one',
      new Map([['a.b', { ips: ['10.0.0'], registry: 'External', altHosts: [] }]]),
      /a\.b: ips\[0\] "10\.0\.0"/,
    ],
    [
      'an unknown registry',
      new Map([['a.b', { ips: [], registry: 'Consul' as 'External', altHosts: [] }]]),
      /a\.b: registry "Consul"/,
    ],
    [
      'an empty host',
      new Map([['', { ips: [], registry: 'External', altHosts: [] }]]),
      /host "" is not a host name/,
    ],
    ['bytes that are no message', Uint8Array.from([0x0a, 0xff, 0x01]), /not a valid message/],
  ];
  for (const [name, input, message] of bad) {
    it(`refuses ${name}, naming what and where`, () => {
      const bytes = input instanceof Uint8Array ? input : encodeNameTable(input);
      assert.throws(() => decodeNameTable(bytes), { code: 'MESHDNS_XDS_INVALID', message });
    });
  }

  it('refuses a response with two tables or a foreign type', () => {
    const r = nameTableResource(table);
    assert.throws(() => nameTableFromResources([r, r]), /2 resources, expected one/);
    assert.throws(() => nameTableFromResources([{ ...r, typeUrl: VIP_ROUTES_TYPE_URL }]), /resource of type/);
  });
});

const routes: XdsVipRoute[] = [
  {
    vip: '240.240.0.1',
    port: 3306,
    host: 'db.example.com',
    resolution: 'DNS',
    endpoints: [],
    hostPort: 3307,
    origin: 'ServiceEntry prod/db',
  },
  {
    vip: '2001:2::1',
    port: 443,
    host: 'api.example.com',
    resolution: 'STATIC',
    endpoints: [{ address: '192.0.2.10', port: 8443 }],
    hostPort: 443,
    origin: 'ServiceEntry prod/api',
  },
];

describe('xds VipRoutes codec', () => {
  it('round-trips routes', () => {
    assert.deepEqual(decodeVipRoutes(encodeVipRoutes(routes)), routes);
  });

  it('keeps its field numbers: routes=1; vip=1 port=2 host=3 resolution=4 endpoints=5 host_port=6 origin=7', () => {
    const top = fields(encodeVipRoutes([routes[1]!]));
    assert.deepEqual(numbers(top), [1]);
    const route = fields(top[0]![2] as Uint8Array);
    assert.deepEqual(numbers(route), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(route[3]![2], 1, 'STATIC = 1');
    assert.deepEqual(
      fields(route[4]![2] as Uint8Array).map(([n, , v]) => [n, typeof v === 'number' ? v : text(v)]),
      [
        [1, '192.0.2.10'],
        [2, 8443],
      ],
    );
  });

  const bad: [string, Partial<XdsVipRoute>, RegExp][] = [
    ['a VIP that is no IP', { vip: 'db' }, /routes\[0\]: vip "db"/],
    ['port 0', { port: 0 }, /routes\[0\]: port 0/],
    ['resolution NONE', { resolution: 'NONE' as 'DNS' }, /resolution "RESOLUTION_UNSPECIFIED"/],
    ['a backend without address', { endpoints: [{ address: '', port: 1 }] }, /endpoints\[0\]\.address/],
  ];
  for (const [name, change, message] of bad) {
    it(`refuses ${name}`, () => {
      const bytes = encodeVipRoutes([{ ...routes[0]!, ...change }]);
      assert.throws(() => decodeVipRoutes(bytes), { code: 'MESHDNS_XDS_INVALID', message });
    });
  }
});

describe('xds discovery messages', () => {
  it('DiscoveryRequest keeps Envoy numbers: version_info=1 node=2 type_url=4 response_nonce=5 error_detail=6', () => {
    const req = {
      versionInfo: 'v1',
      node: {
        id: 'sidecar~~p.ns~ns.svc.cluster.local',
        cluster: 'app.ns',
        metadata: { DNS_CAPTURE: 'true' },
      },
      typeUrl: NAME_TABLE_TYPE_URL,
      responseNonce: '7',
      errorDetail: { code: 3, message: 'no' },
    };
    const bytes = encodeRequest(req);
    assert.deepEqual(decodeRequest(bytes), req);
    const top = fields(bytes);
    assert.deepEqual(numbers(top), [1, 2, 4, 5, 6]);
    const node = fields(top[1]![2] as Uint8Array);
    assert.deepEqual(numbers(node), [1, 2, 3], 'Node id=1 cluster=2 metadata=3');
    // metadata: Struct.fields=1 → entry {key=1, Value=2 {string_value=3}}
    const entry = fields(fields(node[2]![2] as Uint8Array)[0]![2] as Uint8Array);
    assert.equal(text(entry[0]![2]), 'DNS_CAPTURE');
    assert.deepEqual(
      fields(entry[1]![2] as Uint8Array).map(([n, , v]) => [n, text(v)]),
      [[3, 'true']],
    );
    const status = fields(top[4]![2] as Uint8Array);
    assert.deepEqual(
      status.map(([n, , v]) => [n, typeof v === 'number' ? v : text(v)]),
      [
        [1, 3],
        [2, 'no'],
      ],
    );
  });

  it('DiscoveryResponse keeps Envoy numbers: version_info=1 resources=2 (Any type_url=1 value=2) type_url=4 nonce=5', () => {
    const res = {
      versionInfo: 'v2',
      typeUrl: NAME_TABLE_TYPE_URL,
      nonce: '8',
      resources: [nameTableResource(table)],
      controlPlane: 'controller-0',
    };
    const bytes = encodeResponse(res);
    const back = decodeResponse(bytes);
    assert.equal(back.resources[0]!.typeUrl, NAME_TABLE_TYPE_URL);
    assert.deepEqual(decodeNameTable(back.resources[0]!.value), table);
    const top = fields(bytes);
    assert.deepEqual(numbers(top), [1, 2, 4, 5, 6]);
    const any = fields(top[1]![2] as Uint8Array);
    assert.deepEqual(numbers(any), [1, 2]);
    assert.equal(text(any[0]![2]), NAME_TABLE_TYPE_URL);
  });
});

describe('xds delta discovery messages', () => {
  it('DeltaDiscoveryRequest keeps Envoy numbers: node=1 type_url=2 subscribe=3 unsubscribe=4 initial_resource_versions=5 response_nonce=6 error_detail=7', () => {
    const req = {
      node: { id: 'sidecar~~p.ns~ns.svc.cluster.local', cluster: 'app.ns', metadata: {} },
      typeUrl: NAME_TABLE_TYPE_URL,
      resourceNamesSubscribe: ['*'],
      resourceNamesUnsubscribe: ['gone.example'],
      initialResourceVersions: { 'a.example': '00000000000000aa' },
      responseNonce: '4',
      errorDetail: { code: 3, message: 'no' },
    };
    const bytes = encodeDeltaRequest(req);
    assert.deepEqual(decodeDeltaRequest(bytes), req);
    const top = fields(bytes);
    assert.deepEqual(numbers(top), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(text(top[1]![2]), NAME_TABLE_TYPE_URL);
    assert.equal(text(top[2]![2]), '*');
    // A map field: entries {key=1, value=2}.
    const entry = fields(top[4]![2] as Uint8Array);
    assert.deepEqual(
      entry.map(([n, , v]) => [n, text(v)]),
      [
        [1, 'a.example'],
        [2, '00000000000000aa'],
      ],
    );
    assert.equal(text(top[5]![2]), '4');
  });

  it('DeltaDiscoveryResponse keeps Envoy numbers: system_version_info=1 resources=2 (Resource version=1 resource=2 name=3) type_url=4 nonce=5 removed_resources=6 control_plane=7', () => {
    const entry = encodeNameEntry('db.example.com', {
      ips: ['192.0.2.1'],
      registry: 'External',
      altHosts: [],
    });
    const res = {
      systemVersionInfo: 'v9',
      typeUrl: NAME_TABLE_TYPE_URL,
      nonce: '12',
      resources: [
        {
          name: 'db.example.com',
          version: '0123456789abcdef',
          resource: { typeUrl: NAME_TABLE_TYPE_URL, value: entry },
        },
      ],
      removedResources: ['old.example.com'],
      controlPlane: 'controller-0',
    };
    const bytes = encodeDeltaResponse(res);
    const back = decodeDeltaResponse(bytes);
    assert.deepEqual({ ...back, resources: [] }, { ...res, resources: [] });
    assert.equal(back.resources[0]!.name, 'db.example.com');
    assert.deepEqual(decodeNameTable(back.resources[0]!.resource.value), decodeNameTable(entry));
    const top = fields(bytes);
    assert.deepEqual(numbers(top), [1, 2, 4, 5, 6, 7]);
    const resource = fields(top[1]![2] as Uint8Array);
    assert.deepEqual(numbers(resource), [1, 2, 3], 'Resource version=1 resource=2 name=3');
    assert.deepEqual(numbers(fields(resource[1]![2] as Uint8Array)), [1, 2], 'Any type_url=1 value=2');
    assert.deepEqual(numbers(fields(top[5]![2] as Uint8Array)), [1], 'ControlPlane identifier=1');
    // The hand-written codec and proto/'s discovery.proto agree.
    const { deltaDiscoveryResponse: type } = xdsMessages();
    const viaProto = type.toObject(type.decode(bytes), { arrays: true }) as Record<string, unknown>;
    assert.deepEqual(
      [viaProto.systemVersionInfo, viaProto.nonce, viaProto.removedResources],
      ['v9', '12', ['old.example.com']],
    );
    assert.equal((viaProto.resources as { name: string }[])[0]!.name, 'db.example.com');
  });

  it('refuses a truncated DeltaDiscoveryResponse', () => {
    assert.throws(() => decodeDeltaResponse(Buffer.of(0x12, 0x40, 0x0a)), RangeError);
  });
});

describe('xds node identity', () => {
  it('writes and reads Istio node ids and metadata', () => {
    const node = agentNode({
      podName: 'web-1',
      namespace: 'shop',
      ip: '10.1.2.3',
      clusterDomain: 'corp.local',
      metadata: { DNS_CAPTURE: 'true', DNS_AUTO_ALLOCATE: 'False' },
    });
    assert.equal(node.id, 'sidecar~10.1.2.3~web-1.shop~shop.svc.corp.local');
    const view = nodeView(node);
    assert.equal(view.namespace, 'shop');
    assert.equal(view.clusterDomain, 'corp.local');
    assert.equal(view.dnsCapture, true);
    assert.equal(view.dnsAutoAllocate, false);
  });

  it('falls back to the defaults for a bare node', () => {
    const view = nodeView({ id: 'x', cluster: '', metadata: {} });
    assert.deepEqual(
      [view.namespace, view.clusterDomain, view.dnsCapture],
      ['default', 'cluster.local', undefined],
    );
  });
});

describe('xds backoff', () => {
  const cases: [number, number, number][] = [
    // attempt, delay with random()=0, delay with random()=1 (250 ms doubling, 10 s cap)
    [0, 125, 250],
    [1, 250, 500],
    [5, 4000, 8000],
    [6, 5000, 10_000],
    [60, 5000, 10_000],
  ];
  for (const [attempt, low, high] of cases) {
    it(`attempt ${attempt} waits ${low}-${high} ms`, () => {
      assert.equal(
        backoffDelay(attempt, 250, 10_000, () => 0),
        low,
      );
      assert.equal(
        backoffDelay(attempt, 250, 10_000, () => 1),
        high,
      );
    });
  }
});

describe('xds proto files', () => {
  it('are found from the build output', () => {
    assert.match(protoDir(), /\/proto$/);
  });
});
