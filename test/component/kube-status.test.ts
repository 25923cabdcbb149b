// VIPs persisted in ServiceEntry status.addresses through the real @kubernetes/client-node against the
// Kubernetes API test server, and Warning Events for what could not be allocated. The entries are read back
// from the API and allocated by the real allocator, as the controller does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CustomObjectsApi, EventsV1Api, KubeConfig } from '@kubernetes/client-node';
import { type Allocation, allocate, vipRanges } from '../../src/allocate/index.js';
import { EventRecorder, StatusWriter, type StatusWriterOptions } from '../../src/controller/kube/index.js';
import { type ServiceEntry, toResource } from '../../src/model/index.js';
import {
  haveKubectl,
  type KubeApiServer,
  type KubeObject,
  kubectlFor,
  startKubeApi,
} from '../helpers/kube/index.js';
import { captureLogs } from '../helpers/log-capture.js';
import { ROOT } from '../helpers/meshdns.js';

const GROUP = 'networking.istio.io';
const SE_V1 = `${GROUP}/v1`;
const statusPath = (name: string, version = 'v1', ns = 'default') =>
  `/apis/${GROUP}/${version}/namespaces/${ns}/serviceentries/${name}/status`;

function entry(name: string, hosts: string[], status?: unknown): KubeObject {
  return {
    apiVersion: SE_V1,
    kind: 'ServiceEntry',
    metadata: { name, namespace: 'default' },
    spec: { hosts, ports: [{ number: 5432, name: 'tcp', protocol: 'TCP' }], resolution: 'DNS' },
    ...(status === undefined ? {} : { status }),
  };
}

/** The parts of a kubeconfig the tests edit. */
interface KubeconfigDoc {
  clusters: { cluster: Record<string, unknown> }[];
  users: { user: Record<string, unknown> }[];
}

function stored(api: KubeApiServer, name: string): KubeObject['status'] {
  return api.get(SE_V1, 'ServiceEntry', 'default', name)?.status;
}

describe('StatusWriter: VIPs in ServiceEntry status.addresses', () => {
  let api: KubeApiServer;
  let kc: KubeConfig;
  const opened: { close(): Promise<void> }[] = [];

  before(async () => {
    api = await startKubeApi({ anonymous: true }); // kubectl sends no token over plain http
    kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
  });
  beforeEach(() => {
    for (const se of api.list(SE_V1, 'ServiceEntry')) {
      api.delete(SE_V1, 'ServiceEntry', se.metadata.namespace!, se.metadata.name!);
    }
  });
  after(async () => {
    for (const o of opened.splice(0)) await o.close();
    await api.close();
  });

  /** What the controller's informer would hold now, allocated from scratch (status is the only store). */
  async function allocation(v4 = '240.240.0.0/16'): Promise<Allocation> {
    const list = (await kc
      .makeApiClient(CustomObjectsApi)
      .listClusterCustomObject({ group: GROUP, version: 'v1', plural: 'serviceentries' })) as {
      items: unknown[];
    };
    const entries = list.items.map((o, doc) => toResource(o, { file: 'k8s', doc }).resource as ServiceEntry);
    return allocate(entries, [], vipRanges(v4, '2001:2::/48'), { now: Date.now(), graceMs: 600_000 });
  }

  function writer(options: StatusWriterOptions = {}) {
    const logs = captureLogs();
    // Short waits: the retries under test are counted, not timed.
    const w = new StatusWriter(kc, logs.logger, { retryInitialMs: 5, retryMaxMs: 20, ...options });
    opened.push(w);
    return { w, lines: logs.lines };
  }

  const DB = [
    { value: '240.240.0.1', host: 'a.example.com' },
    { value: '2001:2::1', host: 'a.example.com' },
    { value: '240.240.0.2', host: 'b.example.com' },
    { value: '2001:2::2', host: 'b.example.com' },
  ];
  const conditions = [{ type: 'Reconciled', status: 'True' }];
  const cases = [
    { name: 'no status', status: undefined, after: { addresses: DB } },
    { name: 'status without addresses', status: { conditions }, after: { conditions, addresses: DB } },
    {
      name: 'addresses of a host no longer in the entry',
      status: {
        conditions,
        addresses: [
          { value: '240.240.0.1', host: 'a.example.com' },
          { value: '240.240.0.7', host: 'old.example.com' },
        ],
      },
      // a.example.com keeps its VIP (status is the source of truth); the rest of status stays as it was.
      after: { conditions, addresses: DB },
    },
  ];
  for (const c of cases) {
    it(`writes the allocation over ${c.name}, keeps the rest of status, and then has nothing to write`, async () => {
      api.put(entry('db', ['a.example.com', 'b.example.com'], c.status));
      // One try: a first patch whose test of the informer's value fails (conditions) costs none.
      const { w } = writer({ maxAttempts: 1 });
      assert.equal(w.sync((await allocation()).hosts), 1);
      await w.idle();
      assert.deepEqual(stored(api, 'db'), c.after);
      assert.deepEqual(w.counts, { ...w.counts, written: 1, failed: 0, superseded: 0 });
      const patches = api.count({ verb: 'patch', path: statusPath('db') });
      assert.equal(w.sync((await allocation()).hosts), 0, 'the informer shows what was written');
      await w.idle();
      assert.equal(api.count({ verb: 'patch', path: statusPath('db') }), patches);
    });
  }

  it('shows the written addresses to kubectl get serviceentry', async (t) => {
    if (!(await haveKubectl())) return t.skip('kubectl not installed');
    api.put(entry('shown', ['shown.example.com']));
    const { w } = writer();
    w.sync((await allocation()).hosts);
    await w.idle();
    const kubectl = await kubectlFor(api);
    try {
      const got = await kubectl.run(['get', 'serviceentry', 'shown', '-o', 'json']);
      assert.equal(got.code, 0, got.stderr);
      assert.deepEqual((JSON.parse(got.stdout) as KubeObject).status, {
        addresses: [
          { value: '240.240.0.1', host: 'shown.example.com' },
          { value: '2001:2::1', host: 'shown.example.com' },
        ],
      });
    } finally {
      await kubectl.close();
    }
  });

  it('does not clobber a value another writer put between our read and our patch (422, re-read, left as stored)', async () => {
    api.put(entry('race', ['race.example.com']));
    const theirs = { addresses: [{ value: '240.240.9.9', host: 'race.example.com' }] };
    // Another leader's write lands after our GET, before our PATCH: the patch's `test` fails.
    api.beforeNext({ path: statusPath('race'), verb: 'patch' }, () => {
      api.put(entry('race', ['race.example.com'], theirs));
    });
    const { w, lines } = writer();
    w.sync((await allocation()).hosts);
    await w.idle();
    assert.deepEqual(stored(api, 'race'), theirs);
    assert.equal(w.counts.superseded, 1);
    assert.equal(w.counts.written, 0);
    assert.equal(api.count({ verb: 'patch', path: statusPath('race') }), 1, 'one patch, failed; no second');
    assert.ok(lines.some((l) => String(l.msg).includes('changed by another writer')));
    // The rule's other half: the next allocation read their value, keeps their IPv4 VIP, and may now write
    // over it (adding the IPv6 one they lacked: its twin at the same index, issue 14 item 4's pairing).
    assert.equal(w.sync((await allocation()).hosts), 1);
    await w.idle();
    assert.deepEqual(stored(api, 'race'), {
      addresses: [
        { value: '240.240.9.9', host: 'race.example.com' },
        { value: '2001:2::909', host: 'race.example.com' },
      ],
    });
  });

  it('retries with the new read when the status changed but still holds the addresses the allocation read', async () => {
    api.put(entry('cond', ['cond.example.com']));
    // A status writer of another kind (conditions) lands between our read and our patch.
    api.beforeNext({ path: statusPath('cond'), verb: 'patch' }, () => {
      api.put(entry('cond', ['cond.example.com'], { conditions }));
    });
    const { w } = writer();
    w.sync((await allocation()).hosts);
    await w.idle();
    assert.equal(api.count({ verb: 'patch', path: statusPath('cond') }), 2, 'a 422, then the retry');
    assert.deepEqual(stored(api, 'cond'), {
      conditions,
      addresses: [
        { value: '240.240.0.1', host: 'cond.example.com' },
        { value: '2001:2::1', host: 'cond.example.com' },
      ],
    });
    assert.equal(w.counts.written, 1);
  });

  it('drops the write of an entry deleted before it, or between its read and its patch (404), silently', async () => {
    api.put(entry('gone-early', ['early.example.com']));
    api.put(entry('gone-late', ['late.example.com']));
    const hosts = (await allocation()).hosts;
    api.delete(SE_V1, 'ServiceEntry', 'default', 'gone-early');
    api.beforeNext({ path: statusPath('gone-late'), verb: 'patch' }, () => {
      api.delete(SE_V1, 'ServiceEntry', 'default', 'gone-late');
    });
    const { w, lines } = writer();
    w.sync(hosts);
    await w.idle();
    assert.equal(w.counts.gone, 2);
    assert.deepEqual(
      lines.filter((l) => (l.level as number) >= 40),
      [],
    );
  });

  it('retries a 500 and a 503 from the API, and gives up after maxAttempts with a warning', async () => {
    api.put(entry('flaky', ['flaky.example.com']));
    api.failNext({ path: statusPath('flaky'), verb: 'patch', code: 500 });
    api.failNext({ path: statusPath('flaky'), verb: 'get', code: 503 });
    const { w } = writer();
    w.sync((await allocation()).hosts);
    await w.idle();
    assert.equal(w.counts.written, 1);
    assert.equal((stored(api, 'flaky') as { addresses: unknown[] }).addresses.length, 2);

    api.put(entry('down', ['down.example.com']));
    api.failNext({ path: statusPath('down'), count: 10, code: 500 });
    const broken = writer({ maxAttempts: 3 });
    broken.w.sync((await allocation()).hosts);
    await broken.w.idle();
    assert.equal(broken.w.counts.failed, 1);
    assert.equal(api.count({ path: statusPath('down') }), 3);
    const warn = broken.lines.find((l) => l.level === 40);
    assert.match(
      String(warn?.msg),
      /ServiceEntry default\/down status\.addresses: not written after 3 tries/,
    );
  });

  it('coalesces writes per entry (latest wins) with a bounded number in flight', async () => {
    for (const n of ['c1', 'c2', 'c3']) api.put(entry(n, [`${n}.example.com`]));
    const { w } = writer({ maxInFlight: 1 });
    const first = await allocation();
    const second = await allocation('240.241.0.0/16');
    w.sync(first.hosts); // c1 starts at once, c2 and c3 wait
    w.sync(second.hosts); // replaces c2 and c3; queues c1 again behind its write in flight
    await w.idle();
    const v4 = (n: string) => (stored(api, n) as { addresses: { value: string }[] }).addresses[0]!.value;
    assert.deepEqual([v4('c2'), v4('c3')], ['240.241.0.2', '240.241.0.3']);
    // c1's second write was computed without reading the first one's value: it must not replace it.
    assert.equal(v4('c1'), '240.240.0.1');
    assert.deepEqual(w.counts, { ...w.counts, written: 3, superseded: 1 });
    // c1's second patch tested the value its allocation read (none), failed, and the read found ours.
    const patches = ['c1', 'c2', 'c3'].map((n) => api.count({ verb: 'patch', path: statusPath(n) }));
    assert.deepEqual(patches, [2, 1, 1]);
  });

  it('starts no write while its gate is closed (pushes to agents go first), and writes all once it opens', async () => {
    for (const n of ['g1', 'g2', 'g3']) api.put(entry(n, [`${n}.example.com`]));
    let open: () => void = () => {};
    let closed: Promise<void> | undefined = new Promise<void>((resolve) => {
      open = () => {
        closed = undefined;
        resolve();
      };
    });
    const { w } = writer({ maxInFlight: 2, gate: { closed: () => closed } });
    const patches = api.count({ verb: 'patch' });
    assert.equal(w.sync((await allocation()).hosts), 3);
    assert.equal(w.inFlight, 0);
    assert.equal(api.count({ verb: 'patch' }), patches);
    open();
    await w.idle();
    for (const n of ['g1', 'g2', 'g3']) assert.ok(stored(api, n), `${n} written`);
    assert.deepEqual(w.counts, { ...w.counts, written: 3 });
  });

  it('writes each entry with one PATCH that tests what the informer showed, no GET, over kept-alive connections', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `many${i}`);
    // Half with an IPv4 VIP only (they get an IPv6 one), half never written.
    for (const [i, n] of names.entries()) {
      const status =
        i % 2 ? undefined : { addresses: [{ value: `240.240.1.${i + 1}`, host: `${n}.example.com` }] };
      api.put(entry(n, [`${n}.example.com`], status));
    }
    const { w } = writer({ maxInFlight: 4 });
    const start = api.requests.length;
    w.sync((await allocation()).hosts);
    await w.idle();
    const requests = api.requests.slice(start).filter((r) => r.path.endsWith('/status'));
    assert.equal(w.counts.written, names.length);
    assert.deepEqual(
      { gets: requests.filter((r) => r.verb === 'get').length, patches: requests.length },
      { gets: 0, patches: names.length },
    );
    // Before, every request opened a connection of its own; now at most one per write in flight.
    assert.ok(new Set(requests.map((r) => r.connection)).size <= 4, 'connections reused');
    for (const [i, n] of names.entries()) {
      const held = (stored(api, n) as { addresses: { value: string }[] }).addresses.map((a) => a.value);
      assert.equal(held.length, 2);
      // An entry that had a VIP keeps it (status is the allocator's store).
      if (i % 2 === 0) assert.equal(held[0], `240.240.1.${i + 1}`);
    }
  });

  /** An API server that refuses requests without its token, and a kubeconfig for it as `configure` edits it. */
  async function securedApi(configure: (config: KubeconfigDoc, token: string) => void) {
    const secured = await startKubeApi();
    opened.push(secured);
    const config = JSON.parse(secured.kubeconfig()) as KubeconfigDoc;
    configure(config, secured.token);
    const kcSecured = new KubeConfig();
    kcSecured.loadFromString(JSON.stringify(config));
    return { secured, kcSecured };
  }

  /** Entries `names`, allocated as the controller would from what `api` holds. */
  function entriesIn(api: KubeApiServer, names: string[]): Allocation {
    for (const n of names) api.put(entry(n, [`${n}.example.com`]));
    const list = api.list(SE_V1, 'ServiceEntry');
    const entries = list.map((o, doc) => toResource(o, { file: 'k8s', doc }).resource as ServiceEntry);
    return allocate(entries, [], vipRanges('240.240.0.0/16', '2001:2::/48'), {
      now: Date.now(),
      graceMs: 600_000,
    });
  }

  it('sends the kubeconfig credentials and keeps its connections when the kubeconfig carries CA and client-certificate data', async () => {
    // The CA and certificate are base64 in the kubeconfig, which client-node decodes into new Buffers on
    // every resolution (plain http ignores them).
    const pem = (what: string) =>
      Buffer.from(`-----BEGIN ${what}-----\n-----END ${what}-----\n`).toString('base64');
    const { secured, kcSecured } = await securedApi((config) => {
      config.clusters[0]!.cluster['certificate-authority-data'] = pem('CERTIFICATE');
      config.users[0]!.user['client-certificate-data'] = pem('CERTIFICATE');
      config.users[0]!.user['client-key-data'] = pem('PRIVATE KEY');
    });
    const names = Array.from({ length: 24 }, (_, i) => `tls${i}`);
    const allocated = entriesIn(secured, names);
    const logs = captureLogs();
    // A resolution per request, as client-node makes one: each brings new Buffers of the same bytes.
    const w = new StatusWriter(kcSecured, logs.logger, { maxInFlight: 3, resolveTtlMs: 0 });
    opened.push(w);
    w.sync(allocated.hosts);
    await w.idle();
    assert.deepEqual(w.counts, { ...w.counts, written: names.length, failed: 0 });
    const requests = secured.requests.filter((r) => r.path.endsWith('/status'));
    assert.equal(requests.length, names.length);
    assert.ok(new Set(requests.map((r) => r.connection)).size <= 3, 'connections reused');
    for (const n of names) {
      const held = secured.get(SE_V1, 'ServiceEntry', 'default', n)?.status as { addresses: unknown[] };
      assert.equal(held.addresses.length, 2);
    }
  });

  it('resolves the kubeconfig again after a 401 and sends the request once more (a token that expired)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshdns-exec-'));
    try {
      const ran = path.join(dir, 'ran');
      const { secured, kcSecured } = await securedApi((config, token) => {
        // An exec credential plugin whose token has always expired, so client-node runs it for every
        // resolution: a stale token the first time, the server's after.
        const script = [
          `const fs = require('node:fs');`,
          `const first = !fs.existsSync(${JSON.stringify(ran)});`,
          `fs.writeFileSync(${JSON.stringify(ran)}, '');`,
          `const status = { token: first ? 'stale' : ${JSON.stringify(token)}, expirationTimestamp: new Date(0).toISOString() };`,
          `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status }));`,
        ].join('\n');
        config.users[0]!.user = {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: process.execPath,
            args: ['-e', script],
          },
        };
      });
      const allocated = entriesIn(secured, ['expired']);
      const logs = captureLogs();
      // The default resolveTtlMs: without the 401 rule, the stale token would be used for 10 s.
      const w = new StatusWriter(kcSecured, logs.logger, { maxInFlight: 1 });
      opened.push(w);
      w.sync(allocated.hosts);
      await w.idle();
      assert.deepEqual(w.counts, { ...w.counts, written: 1, failed: 0 });
      assert.equal(
        secured.count({ verb: 'patch', path: statusPath('expired') }),
        2,
        'refused once, then sent',
      );
      assert.ok(stored(secured, 'expired'), 'written');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("over HTTPS: the kubeconfig's CA verifies the API server; with another CA nothing is written", async () => {
    const tlsFile = (name: string) => readFileSync(path.join(ROOT, 'test/fixtures/tls', name), 'utf8');
    const tls = { key: tlsFile('server.key'), cert: tlsFile('server.crt'), ca: tlsFile('ca.crt') };
    const run = async (ca: string) => {
      const api = await startKubeApi({ tls: { ...tls, ca } });
      opened.push(api);
      const allocated = entriesIn(api, ['tls-a', 'tls-b', 'tls-c']);
      const kcTls = new KubeConfig();
      kcTls.loadFromString(api.kubeconfig());
      const logs = captureLogs();
      const w = new StatusWriter(kcTls, logs.logger, { maxInFlight: 2, maxAttempts: 1 });
      opened.push(w);
      w.sync(allocated.hosts);
      await w.idle();
      return { api, w, logs };
    };
    const good = await run(tls.ca);
    assert.ok(good.api.url.startsWith('https://'));
    assert.deepEqual(good.w.counts, { ...good.w.counts, written: 3, failed: 0 });
    for (const n of ['tls-a', 'tls-b', 'tls-c']) assert.ok(stored(good.api, n), `${n} written over TLS`);
    const bad = await run(tlsFile('other-ca.crt'));
    assert.deepEqual(bad.w.counts, { ...bad.w.counts, written: 0, failed: 3 });
    assert.equal(stored(bad.api, 'tls-a'), undefined, 'a server the CA does not vouch for gets nothing');
    assert.match(JSON.stringify(bad.logs.lines), /certificate/i);
  });

  it('keeps addresses outside a changed VIP range in status, after the new ones, and reports them once', async () => {
    // Written while the ranges were 240.241.0.0/16 and 2001:3::/48 (issue 8: kept aside, never served).
    const old = [
      { value: '240.241.0.5', host: 'moved.example.com' },
      { value: '2001:3::5', host: 'moved.example.com' },
    ];
    api.put(entry('moved', ['moved.example.com'], { conditions, addresses: old }));
    const { w } = writer({ ranges: vipRanges('240.240.0.0/16', '2001:2::/48') });
    const first = await allocation();
    assert.deepEqual(
      first.errors.map((e) => e.code),
      ['MESHDNS_VIP_OUTSIDE_RANGE', 'MESHDNS_VIP_OUTSIDE_RANGE'],
    );
    w.sync(first.hosts);
    await w.idle();
    const ours = [
      { value: '240.240.0.1', host: 'moved.example.com' },
      { value: '2001:2::1', host: 'moved.example.com' },
    ];
    assert.deepEqual(stored(api, 'moved'), { conditions, addresses: [...ours, ...old] });
    // Read back: the host keeps its new VIPs, nothing more is reported, and there is nothing to write.
    const second = await allocation();
    assert.deepEqual(second.errors, []);
    assert.deepEqual(
      second.hosts.map((h) => [h.v4, h.v6]),
      [['240.240.0.1', '2001:2::1']],
    );
    assert.equal(w.sync(second.hosts), 0);
    // A host dropped from the entry takes its kept addresses with it.
    api.put(entry('moved', ['other.example.com'], stored(api, 'moved')));
    w.sync((await allocation()).hosts);
    await w.idle();
    assert.deepEqual(
      (stored(api, 'moved') as { addresses: { host: string }[] }).addresses.map((a) => a.host),
      ['other.example.com', 'other.example.com'],
    );
  });

  it('writes through v1beta1 when that is the version served, and never while not the leader', async () => {
    api.put(entry('beta', ['beta.example.com']));
    const follower = writer({ isLeader: () => false });
    follower.w.sync((await allocation()).hosts);
    await follower.w.idle();
    assert.equal(follower.w.counts['not-leader'], 1);
    assert.equal(api.count({ verb: 'patch', path: statusPath('beta') }), 0);

    const { w } = writer({ version: 'v1beta1', isLeader: () => true });
    w.sync((await allocation()).hosts);
    await w.idle();
    assert.equal(api.count({ verb: 'patch', path: statusPath('beta', 'v1beta1') }), 1);
    assert.equal((stored(api, 'beta') as { addresses: unknown[] }).addresses.length, 2);
  });
});

describe('EventRecorder: Warning Events for what could not be allocated', () => {
  let api: KubeApiServer;
  let kc: KubeConfig;

  before(async () => {
    api = await startKubeApi();
    kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
  });
  after(async () => {
    await api.close();
  });

  /** Four hosts in a range of two addresses: the two youngest get none. */
  function exhausted(): Allocation {
    const entries = ['e1', 'e2', 'e3', 'e4'].map((n, i) => {
      const obj = api.put({
        ...entry(n, [`${n}.example.com`]),
        metadata: { name: n, namespace: 'ev', creationTimestamp: `2024-01-0${i + 1}T00:00:00Z` },
      });
      return toResource(
        { ...obj, metadata: { ...obj.metadata, creationTimestamp: `2024-01-0${i + 1}T00:00:00Z` } },
        {
          file: 'k8s',
          doc: i,
        },
      ).resource as ServiceEntry;
    });
    return allocate(entries, [], vipRanges('240.240.0.0/30', '2001:2::/48'), { now: Date.now(), graceMs: 0 });
  }

  async function events() {
    return (await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'ev' })).items;
  }

  it('records one Warning per entry left without VIPs, on the entry, deduplicated, without blocking', async () => {
    const logs = captureLogs();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const rec = new EventRecorder(kc, logs.logger, {
      instance: 'meshdns-0',
      dedupWindowMs: 60_000,
      now: () => now,
    });
    try {
      const alloc = exhausted();
      rec.reportAllocation(alloc);
      await rec.idle();
      const got = await events();
      assert.deepEqual(got.map((e) => [e.regarding?.name, e.reason, e.type]).sort(), [
        ['e3', 'VipExhausted', 'Warning'],
        ['e4', 'VipExhausted', 'Warning'],
      ]);
      const e3 = got.find((e) => e.regarding?.name === 'e3')!;
      assert.match(e3.note ?? '', /^host e3\.example\.com: no free IPv4 address left in 240\.240\.0\.0\/30/);
      assert.equal(e3.regarding?.uid, api.get(SE_V1, 'ServiceEntry', 'ev', 'e3')!.metadata.uid);
      assert.equal(e3.regarding?.kind, 'ServiceEntry');
      assert.equal(e3.reportingController, 'meshdns.io/controller');
      assert.equal(e3.reportingInstance, 'meshdns-0');

      // The same allocation again within the window: counted, not sent.
      rec.reportAllocation(alloc);
      await rec.idle();
      assert.equal((await events()).length, 2);
      assert.equal(rec.counts.deduplicated, 2);

      // After the window: the same Events' series count goes up, no new objects.
      now += 60_000;
      rec.reportAllocation(alloc);
      await rec.idle();
      const later = await events();
      assert.equal(later.length, 2);
      assert.deepEqual(
        later.map((e) => e.series?.count),
        [3, 3],
      );
      assert.deepEqual(rec.counts, { ...rec.counts, created: 2, updated: 2, failed: 0 });
    } finally {
      await rec.close();
    }
  });

  it('logs a failed Event at debug and carries on', async () => {
    const logs = captureLogs();
    logs.logger.level = 'debug';
    const rec = new EventRecorder(kc, logs.logger, { instance: 'meshdns-0' });
    try {
      api.failNext({ path: '/apis/events.k8s.io/v1/namespaces/ev/events', verb: 'create', count: 1 });
      rec.warn({ namespace: 'ev', name: 'e1' }, 'VipConflict', 'host e1.example.com: first');
      rec.warn({ namespace: 'ev', name: 'e1' }, 'VipConflict', 'host e1.example.com: second');
      await rec.idle();
      assert.equal(rec.counts.failed, 1);
      assert.equal(rec.counts.created, 1);
      assert.ok(logs.lines.every((l) => (l.level as number) <= 20));
      assert.ok(logs.lines.some((l) => String(l.msg).includes('not recorded')));
    } finally {
      await rec.close();
    }
  });
});
