import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatError,
  meshConfigFromText,
  parseManifestText,
  type Resource,
  toResource,
} from '../../src/model/index.js';

const FILE = 'mesh/db.yaml';

function load(text: string, file = FILE) {
  const { resources, errors } = parseManifestText(file, text);
  return { resources, errors: errors.map(formatError) };
}

/** Loads one object that must be valid. */
function one(text: string, file = FILE): Resource {
  const { resources, errors } = load(text, file);
  assert.deepEqual(errors, []);
  assert.equal(resources.length, 1);
  return resources[0]!;
}

const svc = (spec: string, meta = 'name: db') =>
  `apiVersion: v1\nkind: Service\nmetadata: {${meta}}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
const se = (spec: string, extra = '') =>
  `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db}\nspec:\n${spec.replace(/^/gm, '  ')}\n${extra}`;

describe('valid objects', () => {
  const cases: { name: string; text: string; file?: string; want: Record<string, unknown> }[] = [
    {
      name: 'ClusterIP service, defaults',
      text: svc('clusterIP: 10.96.0.10\nports: [{port: 9080}]'),
      want: {
        kind: 'Service',
        meta: { name: 'db', namespace: 'default', labels: {}, annotations: {} },
        clusterIPs: ['10.96.0.10'],
        headless: false,
        ports: [{ port: 9080, protocol: 'TCP' }],
        publishNotReadyAddresses: false,
      },
    },
    {
      name: 'dual-stack clusterIPs',
      text: svc('clusterIP: 10.96.0.11\nclusterIPs: [10.96.0.11, "fd00:10:96::11"]'),
      want: { clusterIPs: ['10.96.0.11', 'fd00:10:96::11'], headless: false },
    },
    {
      name: 'headless',
      text: svc('clusterIP: None\npublishNotReadyAddresses: true', 'name: ledger, namespace: payments'),
      want: { clusterIPs: [], headless: true, publishNotReadyAddresses: true },
    },
    { name: 'no clusterIP yet', text: svc('ports: [{port: 80}]'), want: { clusterIPs: [], headless: false } },
    {
      name: 'ExternalName normalised',
      text: svc('type: ExternalName\nexternalName: Billing.Example.NET.'),
      want: { externalName: 'billing.example.net', clusterIPs: [], headless: false },
    },
    {
      name: 'EndpointSlice: absent ready means ready',
      text: `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ledger-x\n  labels: {kubernetes.io/service-name: ledger}\naddressType: IPv4\nendpoints:\n- {addresses: [10.244.1.5], hostname: ledger-0}\n- {addresses: [10.244.1.7], conditions: {ready: false}}\n`,
      want: {
        kind: 'EndpointSlice',
        serviceName: 'ledger',
        endpoints: [
          { addresses: ['10.244.1.5'], ready: true, hostname: 'ledger-0' },
          { addresses: ['10.244.1.7'], ready: false },
        ],
      },
    },
    {
      name: 'Endpoints: notReadyAddresses are not ready',
      text: `apiVersion: v1\nkind: Endpoints\nmetadata: {name: ledger}\nsubsets:\n- addresses: [{ip: 10.0.0.1, hostname: a}]\n  notReadyAddresses: [{ip: 10.0.0.2}]\n`,
      want: {
        kind: 'Endpoints',
        serviceName: 'ledger',
        endpoints: [
          { addresses: ['10.0.0.1'], ready: true, hostname: 'a' },
          { addresses: ['10.0.0.2'], ready: false },
        ],
      },
    },
    {
      name: 'ServiceEntry defaults and normalised hosts',
      text: se(
        'hosts: [API.Partner.com., "*.Wiki.example.org"]\naddresses: [192.0.2.10, 192.0.2.0/24]\nports: [{number: 443, name: tls, protocol: tls}]',
      ),
      want: {
        kind: 'ServiceEntry',
        hosts: ['api.partner.com', '*.wiki.example.org'],
        addresses: ['192.0.2.10', '192.0.2.0/24'],
        ports: [{ number: 443, name: 'tls', protocol: 'TLS' }],
        resolution: 'NONE',
        location: 'MESH_EXTERNAL',
        exportTo: ['*'],
        endpoints: [],
        statusAddresses: [],
      },
    },
    {
      name: 'ServiceEntry v1alpha3 with endpoints and status',
      text: `apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {name: db, namespace: ns1}\nspec:\n  hosts: [db.example.com]\n  resolution: DNS\n  location: MESH_INTERNAL\n  exportTo: [.]\n  ports: [{number: 3306, name: tcp, protocol: TCP, targetPort: 13306}]\n  endpoints: [{address: db1.example.com, ports: {tcp: 3307}, labels: {a: b}}]\nstatus:\n  addresses: [{value: 240.240.0.1, host: DB.example.com}]\n`,
      want: {
        resolution: 'DNS',
        location: 'MESH_INTERNAL',
        exportTo: ['.'],
        ports: [{ number: 3306, name: 'tcp', protocol: 'TCP', targetPort: 13306 }],
        endpoints: [{ address: 'db1.example.com', ports: { tcp: 3307 }, labels: { a: 'b' } }],
        statusAddresses: [{ value: '240.240.0.1', host: 'db.example.com' }],
      },
    },
    {
      name: 'Namespace is cluster-scoped',
      text: 'apiVersion: v1\nkind: Namespace\nmetadata: {name: payments}\n',
      want: { kind: 'Namespace', meta: { name: 'payments', namespace: '', labels: {}, annotations: {} } },
    },
    {
      name: 'Pod annotation',
      text: `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    proxy.istio.io/config: "proxyMetadata: {ISTIO_META_DNS_CAPTURE: 'false'}"\n`,
      want: { kind: 'Pod', proxyMetadata: { ISTIO_META_DNS_CAPTURE: 'false' } },
    },
    {
      name: 'Deployment reads the pod template annotation first',
      text: `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  annotations: {proxy.istio.io/config: "proxyMetadata: {A: own}"}\nspec:\n  template:\n    metadata:\n      annotations: {proxy.istio.io/config: "proxyMetadata: {A: template}"}\n`,
      want: {
        kind: 'Deployment',
        proxyConfig: 'proxyMetadata: {A: template}',
        proxyMetadata: { A: 'template' },
      },
    },
    {
      name: 'StatefulSet falls back to its own annotation',
      text: `apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: s\n  annotations: {proxy.istio.io/config: "proxyMetadata: {A: own}"}\nspec: {template: {metadata: {creationTimestamp: null}}}\n`,
      want: { kind: 'StatefulSet', proxyMetadata: { A: 'own' } },
    },
    {
      name: 'ConfigMap istio is MeshConfig',
      text: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |\n    defaultConfig:\n      proxyMetadata:\n        ISTIO_META_DNS_CAPTURE: "true"\n`,
      want: { kind: 'MeshConfig', proxyMetadata: { ISTIO_META_DNS_CAPTURE: 'true' } },
    },
    {
      name: 'bare meshconfig.yaml',
      file: 'mesh/meshconfig.yaml',
      text: 'defaultConfig:\n  proxyMetadata: {ISTIO_META_DNS_AUTO_ALLOCATE: "false"}\n',
      want: { kind: 'MeshConfig', proxyMetadata: { ISTIO_META_DNS_AUTO_ALLOCATE: 'false' } },
    },
    {
      name: 'Kyma Istio default',
      text: 'apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata: {name: default, namespace: kyma-system}\nspec: {config: {enableDNSProxying: true}}\n',
      want: { kind: 'KymaIstio', proxyMetadata: {}, enableDNSProxying: true },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = one(c.text, c.file) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(r[k], v, k);
    });
  }

  it('records the source of each object', () => {
    const r = one(svc('clusterIP: 10.0.0.1'));
    assert.deepEqual(r.source, { file: FILE, doc: 0 });
  });
});

describe('ignored objects', () => {
  const cases: [string, string, string?][] = [
    ['unknown kind', 'apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: x}\n'],
    [
      'same kind, other API',
      'apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: x}\nspec: 3\n',
    ],
    ['no kind', 'foo: bar\n'],
    ['other ConfigMap', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {mesh: "["}\n'],
    [
      'Kyma Istio not named default',
      'apiVersion: operator.kyma-project.io/v1alpha2\nkind: Istio\nmetadata: {name: x}\n',
    ],
    ['bare MeshConfig elsewhere', 'defaultConfig: {proxyMetadata: {A: 1}}\n', 'mesh/other.yaml'],
    [
      'FQDN EndpointSlice',
      'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: x, labels: {kubernetes.io/service-name: s}}\naddressType: FQDN\nendpoints: [{addresses: [a.example.com]}]\n',
    ],
    ['empty documents', '---\n# nothing\n---\n'],
  ];
  for (const [name, text, file] of cases) {
    it(name, () => assert.deepEqual(load(text, file), { resources: [], errors: [] }));
  }

  it('toResource says why it ignored an object', () => {
    const c = toResource({ apiVersion: 'apps/v1', kind: 'ReplicaSet' }, { file: FILE, doc: 0 });
    assert.equal(c.ignored, 'apps/v1 ReplicaSet');
  });
});

describe('invalid objects: exact messages', () => {
  const P = 'MESHDNS_MANIFEST_INVALID: mesh/db.yaml doc 0';
  const cases: [string, string, string][] = [
    ['empty host', se('hosts: [""]'), `${P} ServiceEntry default/db: spec.hosts[0] "" is not a hostname`],
    [
      'bad wildcard',
      se('hosts: ["a.*.com"]'),
      `${P} ServiceEntry default/db: spec.hosts[0] "a.*.com" is not a hostname`,
    ],
    ['no hosts', se('hosts: []'), `${P} ServiceEntry default/db: spec.hosts must not be empty`],
    ['hosts missing', se('resolution: DNS'), `${P} ServiceEntry default/db: spec.hosts is required`],
    [
      'spec missing',
      'apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nmetadata: {name: db, namespace: x}\n',
      `${P} ServiceEntry x/db: spec is required`,
    ],
    [
      'bad address',
      se('hosts: [a.com]\naddresses: [300.1.1.1]'),
      `${P} ServiceEntry default/db: spec.addresses[0] "300.1.1.1" is not an IP address or CIDR`,
    ],
    [
      'bad CIDR',
      se('hosts: [a.com]\naddresses: [10.0.0.0/33]'),
      `${P} ServiceEntry default/db: spec.addresses[0] "10.0.0.0/33" is not an IP address or CIDR`,
    ],
    [
      'bad resolution',
      se('hosts: [a.com]\nresolution: MAGIC'),
      `${P} ServiceEntry default/db: spec.resolution "MAGIC" is not one of NONE, STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS`,
    ],
    [
      'bad location',
      se('hosts: [a.com]\nlocation: OUTSIDE'),
      `${P} ServiceEntry default/db: spec.location "OUTSIDE" is not one of MESH_EXTERNAL, MESH_INTERNAL`,
    ],
    [
      'port 0',
      se('hosts: [a.com]\nports: [{number: 0, name: x, protocol: TCP}]'),
      `${P} ServiceEntry default/db: spec.ports[0].number 0 is not a port number (1-65535)`,
    ],
    [
      'port as string',
      se('hosts: [a.com]\nports: [{number: "443"}]'),
      `${P} ServiceEntry default/db: spec.ports[0].number must be a number (got "443")`,
    ],
    [
      'STATIC endpoint by name',
      se('hosts: [a.com]\nresolution: STATIC\nendpoints: [{address: db.example.com}]'),
      `${P} ServiceEntry default/db: spec.endpoints[0].address "db.example.com" is not an IP address (resolution STATIC)`,
    ],
    [
      'bad exportTo',
      se('hosts: [a.com]\nexportTo: ["Not A Namespace"]'),
      `${P} ServiceEntry default/db: spec.exportTo[0] "Not A Namespace" is not a namespace, "." or "*"`,
    ],
    [
      'bad status address',
      se('hosts: [a.com]', 'status: {addresses: [{value: nope, host: a.com}]}\n'),
      `${P} ServiceEntry default/db: status.addresses[0].value "nope" is not an IP address`,
    ],
    ['no name', svc('clusterIP: 10.0.0.1', 'namespace: x'), `${P} Service: metadata.name is required`],
    ['no metadata', 'apiVersion: v1\nkind: Service\nspec: {}\n', `${P} Service: metadata.name is required`],
    [
      'name not a label',
      svc('clusterIP: 10.0.0.1', 'name: Db'),
      `${P} Service default/Db: metadata.name "Db" is not a DNS label (a-z, 0-9 and '-', at most 63 characters)`,
    ],
    [
      'ServiceEntry name not a DNS subdomain',
      se('hosts: [a.com]').replace('name: db', 'name: Db_1'),
      `${P} ServiceEntry default/Db_1: metadata.name "Db_1" is not a DNS subdomain (a-z, 0-9, '-' and '.', at most 253 characters)`,
    ],
    [
      'a 100 KB name: rejected, and named in a message of bounded length',
      se('hosts: [a.com]').replace('name: db', `name: ${'a'.repeat(100_000)}`),
      `${P} ServiceEntry default/${'a'.repeat(60)}...: metadata.name "${'a'.repeat(76)}... is not a DNS subdomain (a-z, 0-9, '-' and '.', at most 253 characters)`,
    ],
    [
      'bad clusterIP',
      svc('clusterIP: 10.0.0.300'),
      `${P} Service default/db: spec.clusterIP "10.0.0.300" is not an IP address or None`,
    ],
    [
      'clusterIPs disagree',
      svc('clusterIP: 10.0.0.1\nclusterIPs: [10.0.0.2]'),
      `${P} Service default/db: spec.clusterIPs[0] "10.0.0.2" does not match spec.clusterIP "10.0.0.1"`,
    ],
    [
      'None among IPs',
      svc('clusterIPs: [None, "fd00::1"]'),
      `${P} Service default/db: spec.clusterIPs[0] "None" must be the only entry`,
    ],
    [
      'two IPv4 clusterIPs',
      svc('clusterIPs: [10.0.0.1, 10.0.0.2]'),
      `${P} Service default/db: spec.clusterIPs[1] "10.0.0.2" is of the same family as spec.clusterIPs[0]`,
    ],
    [
      'fractional port',
      svc('ports: [{port: 80.5}]'),
      `${P} Service default/db: spec.ports[0].port 80.5 is not a port number (1-65535)`,
    ],
    [
      'ExternalName without name',
      svc('type: ExternalName'),
      `${P} Service default/db: spec.externalName is required for type ExternalName`,
    ],
    [
      'ExternalName bad',
      svc('type: ExternalName\nexternalName: "bad name"'),
      `${P} Service default/db: spec.externalName "bad name" is not a hostname`,
    ],
    [
      'service port',
      svc('ports: [{port: 70000}]'),
      `${P} Service default/db: spec.ports[0].port 70000 is not a port number (1-65535)`,
    ],
    [
      'targetPort type',
      svc('ports: [{port: 80, targetPort: true}]'),
      `${P} Service default/db: spec.ports[0].targetPort must be a number or a string (got true)`,
    ],
    [
      'bad type',
      svc('type: Magic'),
      `${P} Service default/db: spec.type "Magic" is not one of ClusterIP, NodePort, LoadBalancer, ExternalName`,
    ],
    [
      'label not a string',
      svc('clusterIP: 10.0.0.1', 'name: db, labels: {app: true}'),
      `${P} Service default/db: metadata.labels.app must be a string (got true; quote it: "true")`,
    ],
    [
      'slice without service',
      'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\n',
      `${P} EndpointSlice default/s: metadata.labels["kubernetes.io/service-name"] is required`,
    ],
    [
      'slice address family',
      'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: x}}\naddressType: IPv4\nendpoints: [{addresses: ["fd00::1"]}]\n',
      `${P} EndpointSlice default/s: endpoints[0].addresses[0] "fd00::1" is not an IPv4 address`,
    ],
    [
      'endpoints ip',
      'apiVersion: v1\nkind: Endpoints\nmetadata: {name: s}\nsubsets: [{addresses: [{ip: x}]}]\n',
      `${P} Endpoints default/s: subsets[0].addresses[0].ip "x" is not an IP address`,
    ],
    [
      'mesh config shape',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata: {mesh: "defaultConfig: {proxyMetadata: [a]}"}\n',
      `${P} ConfigMap istio-system/istio: data.mesh defaultConfig.proxyMetadata must be a mapping (got a list)`,
    ],
    [
      'apiVersion missing',
      'kind: Service\nmetadata: {name: db}\n',
      `${P} Service default/db: apiVersion is required`,
    ],
    ['not a mapping', '- a\n- b\n', `${P}: expected a Kubernetes object (a mapping), got a list`],
  ];
  for (const [name, text, want] of cases) {
    it(name, () => assert.deepEqual(load(text), { resources: [], errors: [want] }));
  }
});

describe('a workload with a broken proxy.istio.io/config still loads (SPEC §2: mesh-wide values apply)', () => {
  const P = `MESHDNS_MANIFEST_INVALID: ${FILE} doc 0`;
  const cases: [string, string, string][] = [
    [
      'proxyMetadata boolean',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {proxy.istio.io/config: "proxyMetadata: {ISTIO_META_DNS_CAPTURE: true}"}}\n',
      `${P} Pod default/p: metadata.annotations["proxy.istio.io/config"] proxyMetadata.ISTIO_META_DNS_CAPTURE must be a string (got true; quote it: "true"); ignored, the mesh-wide settings apply`,
    ],
    [
      'proxy config not YAML',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {proxy.istio.io/config: "a: b: c"}}\n',
      `${P} Pod default/p: metadata.annotations["proxy.istio.io/config"] is not valid YAML at line 1, column 4: Nested mappings are not allowed in compact mappings; ignored, the mesh-wide settings apply`,
    ],
  ];
  for (const [name, text, want] of cases) {
    it(name, () => {
      const { resources, errors } = load(text);
      assert.deepEqual(errors, [want]);
      assert.equal(resources.length, 1);
      const w = resources[0]!;
      assert.ok(w.kind === 'Pod' && w.proxyConfigError && w.proxyMetadata === undefined);
    });
  }
});

describe('--mesh-config file', () => {
  const cases: [string, string, string][] = [
    ['bare MeshConfig', 'defaultConfig:\n  proxyMetadata: {ISTIO_META_DNS_CAPTURE: "true"}\n', 'ok true'],
    [
      'the istio ConfigMap',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio}\ndata:\n  mesh: "defaultConfig: {proxyMetadata: {ISTIO_META_DNS_CAPTURE: \'false\'}}"\n',
      'ok false',
    ],
    ['empty file', '', 'ok undefined'],
    [
      'not YAML',
      'defaultConfig: [',
      'MESHDNS_MESH_CONFIG: /etc/istio/mesh doc 0 MeshConfig: is not valid YAML at line 1, column 17: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
    [
      'wrong shape',
      'defaultConfig: {proxyMetadata: {ISTIO_META_DNS_CAPTURE: true}}\n',
      'MESHDNS_MESH_CONFIG: /etc/istio/mesh doc 0 MeshConfig: defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE must be a string (got true; quote it: "true")',
    ],
    [
      'another ConfigMap',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {mesh: ""}\n',
      'MESHDNS_MESH_CONFIG: /etc/istio/mesh: no MeshConfig in it (a ConfigMap must be named "istio" with a "mesh" key)',
    ],
  ];
  for (const [name, text, want] of cases) {
    it(name, () => {
      const { settings, errors } = meshConfigFromText('/etc/istio/mesh', text);
      const got = settings
        ? `ok ${settings.proxyMetadata.ISTIO_META_DNS_CAPTURE}`
        : errors.map(formatError).join('\n');
      assert.equal(got, want);
    });
  }
});

describe('manifest files', () => {
  it('multi-document YAML: a bad object is rejected alone, with its document index', () => {
    const text = [
      svc('clusterIP: 10.0.0.1'),
      svc('clusterIP: 10.0.0.2', 'name: db2'),
      se('hosts: [""]'),
      '',
    ].join('---\n');
    const { resources, errors } = load(text);
    assert.deepEqual(
      resources.map((r) => r.kind),
      ['Service', 'Service'],
    );
    assert.deepEqual(errors, [
      'MESHDNS_MANIFEST_INVALID: mesh/db.yaml doc 2 ServiceEntry default/db: spec.hosts[0] "" is not a hostname',
    ]);
  });

  it('a YAML syntax error names the document and line; other documents still load', () => {
    const text = `${svc('clusterIP: 10.0.0.1')}---\na: b: c\n---\n${svc('clusterIP: 10.0.0.2', 'name: db2')}`;
    const { resources, errors } = load(text);
    assert.equal(resources.length, 2);
    assert.deepEqual(errors, [
      'MESHDNS_MANIFEST_INVALID: mesh/db.yaml doc 1: YAML syntax error at line 7, column 4: Nested mappings are not allowed in compact mappings',
    ]);
  });

  it('JSON: one object', () => {
    const obj = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments' } };
    assert.equal(one(JSON.stringify(obj), 'mesh/ns.json').kind, 'Namespace');
  });

  it('JSON: an API List whose items have no kind, with item indexes in errors', () => {
    const list = {
      apiVersion: 'v1',
      kind: 'ServiceList',
      items: [
        { metadata: { name: 'a' }, spec: { clusterIP: '10.0.0.1' } },
        { metadata: { name: 'b' }, spec: { clusterIP: 'nope' } },
        { metadata: { name: 'c' }, spec: { clusterIP: '10.0.0.3' } },
      ],
    };
    const { resources, errors } = load(JSON.stringify(list), 'mesh/svc.json');
    assert.deepEqual(
      resources.map((r) => (r.kind === 'Service' ? r.meta.name : '')),
      ['a', 'c'],
    );
    assert.deepEqual(resources[1]!.source, { file: 'mesh/svc.json', doc: 0, item: 2 });
    assert.deepEqual(errors, [
      'MESHDNS_MANIFEST_INVALID: mesh/svc.json doc 0 item 1 Service default/b: spec.clusterIP "nope" is not an IP address or None',
    ]);
  });

  it('YAML: a kubectl List', () => {
    const text = `apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: b}\n`;
    assert.equal(load(text).resources.length, 2);
  });

  it('invalid JSON: the place as line and column, on every Node version', () => {
    assert.deepEqual(load('{"kind": "Service",}', 'mesh/x.json').errors, [
      'MESHDNS_MANIFEST_INVALID: mesh/x.json: invalid JSON: line 1 column 20: Expected double-quoted property name',
    ]);
    assert.deepEqual(load('{\n  "kind": "Service",\n}', 'mesh/x.json').errors, [
      'MESHDNS_MANIFEST_INVALID: mesh/x.json: invalid JSON: line 3 column 1: Expected double-quoted property name',
    ]);
  });

  it('a second copy of an object is reported and ignored', () => {
    const { resources, errors } = load(`${svc('clusterIP: 10.0.0.1')}---\n${svc('clusterIP: 10.0.0.2')}`);
    assert.equal(resources.length, 1);
    assert.deepEqual(errors, [
      'MESHDNS_MANIFEST_INVALID: mesh/db.yaml doc 1 Service default/db: duplicates mesh/db.yaml doc 0, ignored',
    ]);
  });

  it('YAML aliases cannot blow up', () => {
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 12 }, (_, i) => `b${i}: &b${i} [${`*${i === 0 ? 'a' : `b${i - 1}`}, `.repeat(10)}]`).join('\n')}\n`;
    const { errors } = load(bomb);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /doc 0: YAML could not be read: .*alias/i);
  });
});
