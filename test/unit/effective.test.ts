// SPEC §2: the effective DNS_CAPTURE and DNS_AUTO_ALLOCATE of a workload, and where each came from.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DNS_AUTO_ALLOCATE,
  DNS_CAPTURE,
  effectiveConfig,
  emptyResources,
  findWorkload,
  type MeshSettings,
  parseManifestText,
  type Workload,
} from '../../src/model/index.js';

const src = (file: string) => ({ file, doc: 0 });

function meshConfig(proxyMetadata: Record<string, string>, file = 'mesh/meshconfig.yaml'): MeshSettings {
  return { kind: 'MeshConfig', proxyMetadata, source: src(file) };
}

function kyma(enableDNSProxying: boolean): MeshSettings {
  return { kind: 'KymaIstio', proxyMetadata: {}, enableDNSProxying, source: src('mesh/kyma.yaml') };
}

function workload(proxyMetadata?: Record<string, string>, kind: Workload['kind'] = 'Deployment'): Workload {
  return {
    kind,
    meta: { name: 'checkout', namespace: 'payments', labels: {}, annotations: {} },
    ...(proxyMetadata ? { proxyConfig: '...', proxyMetadata } : {}),
    source: src('mesh/payments.yaml'),
  };
}

type Level = 'on' | 'off' | 'unset';
const asMetadata = (key: string, level: Level): Record<string, string> =>
  level === 'unset' ? {} : { [key]: level === 'on' ? 'true' : 'false' };

describe('precedence matrix: mesh-wide × workload, for both switches', () => {
  const levels: Level[] = ['on', 'off', 'unset'];
  for (const [flag, key] of [
    ['DNS_CAPTURE', DNS_CAPTURE],
    ['DNS_AUTO_ALLOCATE', DNS_AUTO_ALLOCATE],
  ] as const) {
    for (const global of levels) {
      for (const own of levels) {
        // The workload's value wins in both directions; then the mesh-wide one; then the default:
        // capture off, auto-allocation following capture (on here: capture is on mesh-wide below).
        const want =
          own !== 'unset'
            ? { value: own === 'on', origin: 'workload' }
            : global !== 'unset'
              ? { value: global === 'on', origin: 'mesh-config' }
              : { value: flag === 'DNS_AUTO_ALLOCATE', origin: 'default' };
        it(`${flag}: mesh-wide ${global}, workload ${own} → ${want.value ? 'on' : 'off'} from ${want.origin}`, () => {
          const base: Record<string, string> = flag === 'DNS_AUTO_ALLOCATE' ? { [DNS_CAPTURE]: 'true' } : {};
          const config = effectiveConfig({
            mesh: [meshConfig({ ...base, ...asMetadata(key, global) })],
            workload: workload(asMetadata(key, own)),
          });
          const setting = flag === 'DNS_CAPTURE' ? config.capture : config.autoAllocate;
          assert.deepEqual({ value: setting.value, origin: setting.origin }, want);
          assert.deepEqual(config.errors, []);
        });
      }
    }
  }
});

describe('effective config', () => {
  const cases: {
    name: string;
    mesh?: MeshSettings[];
    meshConfig?: MeshSettings;
    workload?: Workload | null;
    capture: string;
    autoAllocate: string;
  }[] = [
    {
      name: 'nothing set: off, and auto-allocation follows',
      workload: workload(),
      capture: 'off default default: off',
      autoAllocate: 'off default default: follows DNS_CAPTURE (off)',
    },
    {
      name: 'capture on mesh-wide: auto-allocation on by default',
      mesh: [meshConfig({ [DNS_CAPTURE]: 'true' })],
      workload: workload(),
      capture: 'on mesh-config MeshConfig mesh/meshconfig.yaml doc 0',
      autoAllocate: 'on default default: follows DNS_CAPTURE (on)',
    },
    {
      name: 'workload turns capture on: auto-allocation follows it',
      workload: workload({ [DNS_CAPTURE]: 'True' }),
      capture: 'on workload proxy.istio.io/config of Deployment payments/checkout (mesh/payments.yaml doc 0)',
      autoAllocate: 'on default default: follows DNS_CAPTURE (on)',
    },
    {
      name: "Kyma's Istio CR turns capture on mesh-wide",
      mesh: [kyma(true)],
      workload: workload(),
      capture: 'on kyma-istio Kyma Istio spec.config.enableDNSProxying (mesh/kyma.yaml doc 0)',
      autoAllocate: 'on default default: follows DNS_CAPTURE (on)',
    },
    {
      name: "Kyma's CR beats MeshConfig (its operator writes the mesh config)",
      mesh: [meshConfig({ [DNS_CAPTURE]: 'true' }), kyma(false)],
      workload: workload(),
      capture: 'off kyma-istio Kyma Istio spec.config.enableDNSProxying (mesh/kyma.yaml doc 0)',
      autoAllocate: 'off default default: follows DNS_CAPTURE (off)',
    },
    {
      name: 'the workload beats Kyma',
      mesh: [kyma(true)],
      workload: workload({ [DNS_CAPTURE]: 'false' }),
      capture:
        'off workload proxy.istio.io/config of Deployment payments/checkout (mesh/payments.yaml doc 0)',
      autoAllocate: 'off default default: follows DNS_CAPTURE (off)',
    },
    {
      name: "--mesh-config replaces the folder's MeshConfig",
      mesh: [meshConfig({ [DNS_CAPTURE]: 'true', [DNS_AUTO_ALLOCATE]: 'true' })],
      meshConfig: meshConfig({ [DNS_AUTO_ALLOCATE]: 'false' }, '/etc/istio/mesh'),
      workload: workload(),
      capture: 'off default default: off',
      autoAllocate: 'off mesh-config MeshConfig /etc/istio/mesh doc 0',
    },
    {
      name: 'the first MeshConfig that sets a value wins',
      mesh: [meshConfig({}, 'a/meshconfig.yaml'), meshConfig({ [DNS_CAPTURE]: '1' }, 'b/istio.yaml')],
      workload: workload(),
      capture: 'on mesh-config MeshConfig b/istio.yaml doc 0',
      autoAllocate: 'on default default: follows DNS_CAPTURE (on)',
    },
    {
      name: 'serve without --workload: capture on, auto-allocation from the mesh',
      mesh: [meshConfig({ [DNS_CAPTURE]: 'false', [DNS_AUTO_ALLOCATE]: 'false' })],
      workload: null,
      capture: 'on no-workload serve without --workload answers DNS',
      autoAllocate: 'off mesh-config MeshConfig mesh/meshconfig.yaml doc 0',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const config = effectiveConfig({
        mesh: c.mesh ?? [],
        ...(c.meshConfig ? { meshConfig: c.meshConfig } : {}),
        ...(c.workload ? { workload: c.workload } : {}),
      });
      const text = (s: typeof config.capture) => `${s.value ? 'on' : 'off'} ${s.origin} ${s.detail}`;
      assert.equal(text(config.capture), c.capture);
      assert.equal(text(config.autoAllocate), c.autoAllocate);
      assert.deepEqual(config.errors, []);
    });
  }

  it('a value that is not a boolean is reported, naming object and field, and counts as unset', () => {
    const config = effectiveConfig({
      mesh: [meshConfig({ [DNS_CAPTURE]: 'true' })],
      workload: workload({ [DNS_CAPTURE]: 'yes' }),
    });
    assert.equal(config.capture.value, true);
    assert.equal(config.capture.origin, 'mesh-config');
    assert.deepEqual(
      config.errors.map((e) => `${e.code}: ${e.message}`),
      [
        'MESHDNS_MANIFEST_INVALID: mesh/payments.yaml doc 0 Deployment payments/checkout: proxy.istio.io/config proxyMetadata.ISTIO_META_DNS_CAPTURE "yes" is not "true" or "false"; ignored',
      ],
    );
  });
});

describe('a malformed proxy.istio.io/config annotation', () => {
  const manifest = (annotation: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: checkout, namespace: payments}\nspec:\n  template:\n    metadata:\n      annotations:\n        proxy.istio.io/config: ${JSON.stringify(annotation)}\n`;
  const cases: [string, string, string][] = [
    [
      'not YAML',
      'proxyMetadata: {ISTIO_META_DNS_CAPTURE: "false"',
      'is not valid YAML at line 1, column 48: Flow map in block collection must be sufficiently indented and end with a }',
    ],
    [
      'an unquoted boolean',
      'proxyMetadata: {ISTIO_META_DNS_CAPTURE: false}',
      'proxyMetadata.ISTIO_META_DNS_CAPTURE must be a string (got false; quote it: "false")',
    ],
  ];
  for (const [name, annotation, why] of cases) {
    it(`${name}: an error names the workload, which keeps loading and falls back to the mesh-wide value`, () => {
      const { resources, errors } = parseManifestText('mesh/payments.yaml', manifest(annotation));
      const field = 'spec.template.metadata.annotations["proxy.istio.io/config"]';
      assert.deepEqual(
        errors.map((e) => `${e.code}: ${e.message}`),
        [
          `MESHDNS_MANIFEST_INVALID: mesh/payments.yaml doc 0 Deployment payments/checkout: ${field} ${why}; ignored, the mesh-wide settings apply`,
        ],
      );
      const res = emptyResources();
      res.workloads.push(...(resources as Workload[]));
      const w = findWorkload(res, 'payments', 'checkout');
      assert.ok(w?.proxyConfigError);
      const config = effectiveConfig({ mesh: [meshConfig({ [DNS_CAPTURE]: 'true' })], workload: w });
      assert.equal(config.capture.value, true);
      assert.equal(config.capture.origin, 'mesh-config');
      assert.match(
        config.capture.detail,
        /the proxy.istio.io\/config of Deployment payments\/checkout is invalid and ignored/,
      );
    });
  }
});

describe('findWorkload', () => {
  it('a Pod before a Deployment or StatefulSet of the same name; other namespaces do not count', () => {
    const res = emptyResources();
    const other = { ...workload({}, 'Pod'), meta: { ...workload().meta, namespace: 'default' } };
    res.workloads.push(workload({}, 'StatefulSet'), workload({}, 'Deployment'), other);
    assert.equal(findWorkload(res, 'payments', 'checkout')?.kind, 'Deployment');
    res.workloads.push(workload({}, 'Pod'));
    assert.equal(findWorkload(res, 'payments', 'checkout')?.kind, 'Pod');
    assert.equal(findWorkload(res, 'payments', 'nope'), undefined);
  });
});
