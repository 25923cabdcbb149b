import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checked, type SourceRef, toResource } from '../../src/model/index.js';
import {
  quickEndpointSlice,
  quickNamespace,
  quickService,
  quickServiceEntry,
} from '../../src/model/quick.js';
import { prng } from '../helpers/random-mesh.js';

// quick.ts converts the common kinds without zod. It must give exactly what the zod converter gives,
// and take nothing the zod converter rejects: here both read the same objects, valid ones and
// thousands of mutants of them.

const source: SourceRef = { file: 'm.yaml', doc: 0 };
type Obj = Record<string, unknown>;

/** Values a mutant field takes: right and wrong types, edge numbers, names good and bad. */
const PALETTE: unknown[] = [
  undefined,
  null,
  '',
  'None',
  'db',
  'Db.Example.COM.',
  '*.example.com',
  '*.',
  'bad host',
  'a'.repeat(64),
  '10.0.0.1',
  '10.0.0.01',
  '::1',
  '2001:DB8::1',
  '10.0.0.0/8',
  'unix:///sock',
  'TCP',
  'tcp',
  'UDP',
  'SCTP',
  'ClusterIP',
  'ExternalName',
  'NodePort',
  'MESH_INTERNAL',
  'STATIC',
  'DNS',
  'IPv4',
  'IPv6',
  'FQDN',
  '.',
  '~',
  'prod',
  0,
  1,
  80,
  65535,
  65536,
  1.5,
  -1,
  Number.NaN,
  true,
  false,
  [],
  ['10.0.0.2'],
  ['10.0.0.1', '::2'],
  ['10.0.0.1', '10.0.0.2'],
  ['None'],
  ['x.example.com'],
  {},
  { a: 'b' },
  { a: 1 },
  { ready: false },
  '2026-01-01T00:00:00Z',
];

const BASES: Record<
  string,
  { make: () => Obj; paths: (string | number)[][]; quick: typeof quickService; zod: string }
> = {
  Service: {
    make: () => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'web',
        namespace: 'shop',
        labels: { app: 'web' },
        creationTimestamp: '2026-01-01T00:00:00Z',
      },
      spec: {
        type: 'ClusterIP',
        clusterIP: '10.96.0.10',
        clusterIPs: ['10.96.0.10', 'fd00::10'],
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 },
          { port: 443, targetPort: 'https' },
        ],
      },
    }),
    paths: [
      ['metadata'],
      ['metadata', 'name'],
      ['metadata', 'namespace'],
      ['metadata', 'labels'],
      ['metadata', 'labels', 'app'],
      ['metadata', 'annotations'],
      ['metadata', 'creationTimestamp'],
      ['spec'],
      ['spec', 'type'],
      ['spec', 'clusterIP'],
      ['spec', 'clusterIPs'],
      ['spec', 'clusterIPs', 0],
      ['spec', 'clusterIPs', 1],
      ['spec', 'externalName'],
      ['spec', 'ports'],
      ['spec', 'ports', 0],
      ['spec', 'ports', 0, 'port'],
      ['spec', 'ports', 0, 'name'],
      ['spec', 'ports', 1, 'protocol'],
      ['spec', 'ports', 1, 'targetPort'],
      ['spec', 'publishNotReadyAddresses'],
    ],
    quick: quickService,
    zod: 'toService',
  },
  ServiceEntry: {
    make: () => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'db.ext', namespace: 'shop' },
      spec: {
        hosts: ['DB.example.com', '*.wiki.example.org'],
        addresses: ['192.0.2.1', '10.9.0.0/16'],
        location: 'MESH_EXTERNAL',
        resolution: 'DNS',
        ports: [{ number: 5432, name: 'tcp-db', protocol: 'tcp', targetPort: 15432 }],
        endpoints: [{ address: 'db1.example.com', ports: { 'tcp-db': 5433 }, labels: { zone: 'a' } }],
        exportTo: ['.', 'prod'],
      },
      status: { addresses: [{ value: '240.240.0.1', host: 'DB.example.com.' }] },
    }),
    paths: [
      ['metadata', 'name'],
      ['metadata', 'namespace'],
      ['metadata', 'annotations'],
      ['spec'],
      ['spec', 'hosts'],
      ['spec', 'hosts', 0],
      ['spec', 'hosts', 1],
      ['spec', 'addresses'],
      ['spec', 'addresses', 0],
      ['spec', 'location'],
      ['spec', 'resolution'],
      ['spec', 'ports'],
      ['spec', 'ports', 0, 'number'],
      ['spec', 'ports', 0, 'protocol'],
      ['spec', 'ports', 0, 'name'],
      ['spec', 'ports', 0, 'targetPort'],
      ['spec', 'endpoints'],
      ['spec', 'endpoints', 0],
      ['spec', 'endpoints', 0, 'address'],
      ['spec', 'endpoints', 0, 'ports'],
      ['spec', 'endpoints', 0, 'ports', 'tcp-db'],
      ['spec', 'endpoints', 0, 'labels'],
      ['spec', 'exportTo'],
      ['spec', 'exportTo', 1],
      ['status'],
      ['status', 'addresses'],
      ['status', 'addresses', 0, 'value'],
      ['status', 'addresses', 0, 'host'],
    ],
    quick: quickServiceEntry,
    zod: 'toServiceEntry',
  },
  EndpointSlice: {
    make: () => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-abc', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.1.0.5'], conditions: { ready: true }, hostname: 'pod-0' },
        { addresses: ['10.1.0.6', '10.1.0.7'] },
      ],
    }),
    paths: [
      ['metadata', 'name'],
      ['metadata', 'labels'],
      ['metadata', 'labels', 'kubernetes.io/service-name'],
      ['addressType'],
      ['endpoints'],
      ['endpoints', 0],
      ['endpoints', 0, 'addresses'],
      ['endpoints', 0, 'addresses', 0],
      ['endpoints', 0, 'conditions'],
      ['endpoints', 0, 'conditions', 'ready'],
      ['endpoints', 0, 'hostname'],
      ['endpoints', 1, 'addresses', 1],
    ],
    quick: quickEndpointSlice,
    zod: 'toEndpointSlice',
  },
  Namespace: {
    make: () => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } },
    }),
    paths: [
      ['metadata'],
      ['metadata', 'name'],
      ['metadata', 'namespace'],
      ['metadata', 'labels'],
      ['metadata', 'labels', 'x'],
    ],
    quick: quickNamespace,
    zod: 'toNamespace',
  },
};

function setPath(obj: Obj, path: (string | number)[], value: unknown): void {
  let at: Record<string | number, unknown> = obj;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (typeof next !== 'object' || next === null) at[key] = typeof key === 'number' ? [] : {};
    at = at[key] as Record<string | number, unknown>;
  }
  const last = path.at(-1)!;
  if (value === undefined) delete at[last];
  else at[last] = value;
}

describe('quick converters (without zod)', () => {
  for (const [kind, base] of Object.entries(BASES)) {
    it(`${kind}: give what the zod converter gives, and take nothing it rejects`, () => {
      const zod = checked()[base.zod as 'toService'];
      const pick = prng(kind.length * 7919);
      let taken = 0;
      for (let n = 0; n < 6000; n++) {
        const obj = base.make();
        const mutations = n === 0 ? 0 : 1 + pick(3);
        for (let m = 0; m < mutations; m++) {
          const value = PALETTE[pick(PALETTE.length)];
          setPath(obj, base.paths[pick(base.paths.length)]!, structuredClone(value));
        }
        const quick = base.quick(obj, source);
        const checkedResult = zod(structuredClone(obj), source);
        if (n === 0) assert.ok(quick, `${kind}: the unmutated object is taken`);
        if (quick === undefined) continue;
        taken++;
        assert.deepEqual(checkedResult.errors, [], `${kind} #${n}: quick took ${JSON.stringify(obj)}`);
        assert.deepEqual(quick.resource, checkedResult.resource, `${kind} #${n}: ${JSON.stringify(obj)}`);
      }
      // Both branches are exercised: many mutants are still valid, many are not.
      assert.ok(taken > 150 && taken < 5700, `${kind}: quick took ${taken} of 6000`);
    });
  }

  it('toResource takes the quick path and the zod path to the same resource', () => {
    const svc = BASES.Service!.make();
    const viaToResource = toResource(svc, source);
    assert.deepEqual(viaToResource.resource, checked().toService(svc, source).resource);
    // An invalid one still gets zod's message, naming the field.
    const bad = BASES.Service!.make();
    setPath(bad, ['spec', 'ports', 0, 'port'], 70000);
    const c = toResource(bad, source);
    assert.equal(c.resource, undefined);
    assert.match(JSON.stringify(c.errors), /spec\.ports\[0\]\.port.*70000 is not a port number/);
  });
});
