// `meshdns controller --kube` against the Kubernetes API test server, with real agents answering DNS
// (issue 10 items 1, 2 and 6): VIPs land in status.addresses and survive restarts and a leader
// failover; add, modify and delete reach the agents; a dropped watch and a 410 relist lose nothing.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { answersOf, ask } from '../helpers/dns-client.js';
import { freePort } from '../helpers/dnsmasq.js';
import { type KubeApiServer, type KubeObject, startKubeApi } from '../helpers/kube/index.js';
import { eventually, type Running, startCli, waitForOutput } from '../helpers/meshdns.js';

const SE = 'networking.istio.io/v1';
const running: Running[] = [];
let api: KubeApiServer;
let kubeconfig = '';

before(async () => {
  api = await startKubeApi();
  // Its own folder: tempFolder's hook may run after this one, and an empty path is the working directory.
  kubeconfig = await api.writeKubeconfig(await mkdtemp(join(tmpdir(), 'meshdns-kubeconfig-')));
});
after(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await api.close();
  await rm(dirname(kubeconfig), { recursive: true, force: true });
});

function serviceEntry(name: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: SE,
    kind: 'ServiceEntry',
    metadata: { name, namespace: 'default' },
    spec: {
      hosts: [`${name}.example.com`],
      ports: [{ number: 3306, name: 'tcp', protocol: 'TCP' }],
      resolution: 'DNS',
      ...extra,
    },
  };
}

const statusOf = (name: string) =>
  (api.get(SE, 'ServiceEntry', 'default', name)?.status as { addresses?: { value: string; host: string }[] })
    ?.addresses;

/** Short leases, so that a failover takes seconds. */
const LEASE = [
  ...['--leader-elect-lease-duration', '2000', '--leader-elect-renew-deadline', '1500'],
  ...['--leader-elect-retry-period', '300'],
];

async function controller(name: string, xds: number, extra: string[] = []): Promise<Running> {
  const c = startCli(
    [
      ...['controller', '--kube', '--kubeconfig', kubeconfig, '--xds-listen', `127.0.0.1:${xds}`],
      ...['--debounce', '20', ...LEASE, ...extra],
    ],
    { env: { POD_NAME: name, POD_NAMESPACE: 'istio-system' } },
  );
  running.push(c);
  await waitForOutput(c, /"msg":"controller ready"/);
  return c;
}

async function agent(xds: number): Promise<number> {
  const port = await freePort('127.0.0.1');
  const a = startCli(
    [
      ...['agent', '--controller', `127.0.0.1:${xds}`, '--dns-listen', `127.0.0.1:${port}`],
      ...['--upstream', '127.0.0.1:9', '--search', 'default.svc.cluster.local', '--upstream-timeout', '300'],
    ],
    {
      env: {
        POD_NAME: 'app',
        POD_NAMESPACE: 'default',
        ISTIO_META_DNS_CAPTURE: 'true',
        ISTIO_META_DNS_AUTO_ALLOCATE: 'true',
      },
    },
  );
  running.push(a);
  await waitForOutput(a, /"msg":"serving DNS"/);
  return port;
}

async function addresses(port: number, name: string): Promise<string[]> {
  const reply = await ask('udp', port, name, 'A');
  return answersOf(reply).map((l) => l.split(' ').at(-1)!);
}

describe('meshdns controller --kube', () => {
  it('writes VIPs to status.addresses, follows the API, and never renumbers', async () => {
    api.put(serviceEntry('db-a'));
    api.put({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { clusterIP: '10.96.0.5', clusterIPs: ['10.96.0.5'], ports: [{ port: 80, protocol: 'TCP' }] },
    });
    const xds = await freePort('127.0.0.1');
    let c = await controller('controller-0', xds);
    const port = await agent(xds);
    await eventually(async () => assert.deepEqual(await addresses(port, 'web'), ['10.96.0.5']), 10_000);
    const [vipA] = await addresses(port, 'db-a.example.com');
    assert.match(vipA!, /^240\.240\./);
    await eventually(async () => assert.ok(statusOf('db-a')?.some((a) => a.value === vipA)), 10_000);
    assert.deepEqual(
      statusOf('db-a')!.map((a) => a.host),
      ['db-a.example.com', 'db-a.example.com'],
    );

    // Add, modify, delete through the API.
    api.put(serviceEntry('db-b'));
    await eventually(async () => assert.equal((await addresses(port, 'db-b.example.com')).length, 1), 10_000);
    api.put(serviceEntry('db-b', { addresses: ['192.0.2.8'], resolution: 'STATIC' }));
    await eventually(
      async () => assert.deepEqual(await addresses(port, 'db-b.example.com'), ['192.0.2.8']),
      10_000,
    );
    api.delete(SE, 'ServiceEntry', 'default', 'db-b');
    await eventually(async () => assert.deepEqual(await addresses(port, 'db-b.example.com'), []), 10_000);

    // A watch cut mid-stream, then history compacted (410 on the next watch): nothing is lost.
    api.dropWatches({ abrupt: true });
    api.put(serviceEntry('db-c'));
    await eventually(async () => assert.equal((await addresses(port, 'db-c.example.com')).length, 1), 10_000);
    api.compact();
    api.dropWatches();
    api.put(serviceEntry('db-d'));
    await eventually(async () => assert.equal((await addresses(port, 'db-d.example.com')).length, 1), 10_000);

    // A restarted controller reads every status.addresses before it allocates: nothing moves, and an
    // entry created while it was down gets an address nobody holds.
    const before = await Promise.all(
      ['db-a', 'db-c', 'db-d'].map((n) => addresses(port, `${n}.example.com`)),
    );
    await c.stop();
    api.put(serviceEntry('db-e'));
    c = await controller('controller-0', xds);
    await eventually(async () => assert.equal((await addresses(port, 'db-e.example.com')).length, 1), 10_000);
    const afterRestart = await Promise.all(
      ['db-a', 'db-c', 'db-d'].map((n) => addresses(port, `${n}.example.com`)),
    );
    assert.deepEqual(afterRestart, before);
    const [vipE] = await addresses(port, 'db-e.example.com');
    assert.ok(!before.flat().includes(vipE!), `${vipE} is new`);
    await c.stop();
  });

  it('sends a change that follows a quiet period at once, without waiting the debounce', async () => {
    const xds = await freePort('127.0.0.1');
    // A debounce far longer than the wait bound below: only the leading edge can meet it.
    const c = await controller('controller-p', xds, ['--debounce', '600000']);
    const port = await agent(xds);
    api.put(serviceEntry('lead', { addresses: ['192.0.2.41'], resolution: 'STATIC' }));
    await eventually(
      async () => assert.deepEqual(await addresses(port, 'lead.example.com'), ['192.0.2.41']),
      10_000,
    );
    await c.stop();
  });

  it('reports what it cannot allocate as a Warning Event on the ServiceEntry', async () => {
    const xds = await freePort('127.0.0.1');
    // A /30 holds two VIPs; the entries from the test before already hold more than that.
    const c = await controller('controller-x', xds, ['--vip-range-v4', '240.240.0.0/30']);
    api.put(serviceEntry('db-h'));
    await eventually(async () => {
      const events = api.list('events.k8s.io/v1', 'Event', 'default') as (KubeObject & {
        reason?: string;
        note?: string;
        regarding?: { name?: string };
      })[];
      const exhausted = events.filter((e) => e.reason === 'VipExhausted');
      assert.ok(exhausted.length > 0, JSON.stringify(events.map((e) => e.reason)));
      assert.match(exhausted[0]!.note ?? '', /host .*: /);
    }, 10_000);
    await c.stop();
  });

  it('hands status writing to the other replica when the leader dies, keeping every VIP', async () => {
    const [xdsA, xdsB] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    const a = await controller('controller-a', xdsA);
    await eventually(async () => {
      const lease = api.get('coordination.k8s.io/v1', 'Lease', 'istio-system', 'meshdns-controller');
      assert.equal((lease?.spec as { holderIdentity?: string })?.holderIdentity, 'controller-a');
    }, 10_000);
    const b = await controller('controller-b', xdsB);
    const port = await agent(xdsB);
    api.put(serviceEntry('db-f'));
    await eventually(async () => assert.ok(statusOf('db-f')?.length), 10_000);
    const vipF = statusOf('db-f')!.map((x) => x.value);
    // The follower serves the same VIP the leader wrote.
    await eventually(
      async () => assert.deepEqual(await addresses(port, 'db-f.example.com'), [vipF[0]]),
      10_000,
    );
    a.child.kill('SIGKILL');
    await eventually(async () => {
      const lease = api.get('coordination.k8s.io/v1', 'Lease', 'istio-system', 'meshdns-controller');
      assert.equal((lease?.spec as { holderIdentity?: string })?.holderIdentity, 'controller-b');
    }, 15_000);
    api.put(serviceEntry('db-g'));
    await eventually(async () => assert.ok(statusOf('db-g')?.length), 10_000);
    assert.deepEqual(
      statusOf('db-f')!.map((x) => x.value),
      vipF,
    );
    assert.deepEqual(await addresses(port, 'db-f.example.com'), [vipF[0]]);
    await b.stop();
  });
});
