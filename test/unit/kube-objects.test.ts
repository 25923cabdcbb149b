// The Kubernetes source patches its snapshot per event (issue 10 item 7): after any run of random events
// the patched snapshot is the one a walk of every object gives, in the same order, and earlier snapshots
// are never changed by later events.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Resources } from '../../src/model/index.js';
import { type WatchedKind, watchedKinds } from '../../src/sources/kube/kinds.js';
import { KubeObjects } from '../../src/sources/kube/objects.js';
import { prng } from '../helpers/random-mesh.js';

const KINDS = new Map(watchedKinds('istio-system').map((k) => [k.kind, k]));
const kind = (name: string): WatchedKind => KINDS.get(name)!;

const NAMES = ['a', 'b', 'c'];
const NAMESPACES = ['default', 'prod'];

/** One random version of an object of `k`: valid, invalid, or (some ConfigMaps, Istios) not ours. */
function randomObject(pick: (n: number) => number, k: string, version: number): KubernetesObject {
  const name = NAMES[pick(NAMES.length)]!;
  const namespace = NAMESPACES[pick(NAMESPACES.length)]!;
  const bad = pick(5) === 0;
  switch (k) {
    case 'Service':
      return {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace },
        spec: { clusterIP: bad ? 'not-an-ip' : `10.0.${version % 250}.${pick(250) + 1}` },
      } as KubernetesObject;
    case 'EndpointSlice':
      return {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name, namespace, labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [bad ? 'nope' : `10.1.0.${pick(250) + 1}`] }],
      } as KubernetesObject;
    case 'Namespace':
      return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } };
    case 'ConfigMap':
      return {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: pick(3) === 0 ? 'other' : 'istio', namespace: 'istio-system' },
        data: { mesh: bad ? 'defaultConfig: [' : `defaultConfig: {proxyMetadata: {X: "${version}"}}` },
      } as KubernetesObject;
    case 'Istio':
      return {
        apiVersion: pick(3) === 0 ? 'operator.kyma-project.io/v9' : 'operator.kyma-project.io/v1alpha2',
        kind: 'Istio',
        metadata: { name: 'default', namespace: 'kyma-system' },
        spec: { config: { enableDNSProxying: pick(2) === 0 } },
      } as KubernetesObject;
    default:
      return {
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name, namespace },
        spec: {
          hosts: [bad ? '' : `${name}${version % 7}.example.com`],
          resolution: 'DNS',
          ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        },
      } as KubernetesObject;
  }
}

const copyLists = (r: Resources) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, [...v]]));

describe('KubeObjects: a snapshot patched per event', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`equals a walk of every object after each batch of random events (seed ${seed})`, () => {
      const pick = prng(seed);
      const objects = new KubeObjects();
      const kinds = [...KINDS.keys()];
      const kept: { resources: Resources; copy: ReturnType<typeof copyLists> }[] = [];
      let version = 0;
      for (let batch = 0; batch < 300; batch++) {
        const events = 1 + pick(6);
        for (let e = 0; e < events; e++) {
          const k = kinds[pick(kinds.length)]!;
          const obj = randomObject(pick, k, version++);
          if (pick(4) === 0) objects.delete(kind(k), obj);
          else objects.set(kind(k), obj);
        }
        const build = objects.build();
        assert.deepEqual(build.resources, objects.resourcesByWalk(), `batch ${batch}`);
        // The arrays are compared by identity too: a build must not share a list it later changes.
        kept.push({ resources: build.resources, copy: copyLists(build.resources) });
      }
      for (const { resources, copy } of kept) assert.deepEqual(copyLists(resources), copy);
    });
  }

  it('the delta of each build names what left and what came', () => {
    const objects = new KubeObjects();
    const se = (host: string) => randomObjectWithHost('db', host);
    objects.set(kind('ServiceEntry'), se('one.example.com'));
    const first = objects.build();
    assert.equal(first.resources.serviceEntries.length, 1);
    objects.set(kind('ServiceEntry'), se('two.example.com'));
    objects.delete(kind('ServiceEntry'), se('two.example.com'));
    objects.set(kind('ServiceEntry'), se('three.example.com'));
    const second = objects.build();
    assert.deepEqual(second.delta?.removed, first.resources.serviceEntries);
    assert.deepEqual(second.delta?.added, second.resources.serviceEntries);
    assert.deepEqual(
      second.resources.serviceEntries.map((s) => s.hosts),
      [['three.example.com']],
    );
    // The first snapshot still holds what it held.
    assert.deepEqual(
      first.resources.serviceEntries.map((s) => s.hosts),
      [['one.example.com']],
    );
  });
});

function randomObjectWithHost(name: string, host: string): KubernetesObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name, namespace: 'default' },
    spec: { hosts: [host], resolution: 'DNS', ports: [{ number: 80, name: 'http', protocol: 'HTTP' }] },
  } as KubernetesObject;
}
