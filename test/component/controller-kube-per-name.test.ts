// Per-name VIPs with `meshdns controller --kube` (issue 14 item 5): the names asked under a per-name
// wildcard are kept in the ServiceEntry's status.addresses, each with `host` the name, so that a restarted
// controller serves the same VIPs; only the Lease holder allocates, a follower forwards its agents' asks
// to it (the address the holder writes in the Lease) and serves the names it reads back from status, and
// a new leader keeps them. Against the Kubernetes API test server, with real agents over gRPC and a real
// dnsmasq upstream.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { answersOf, ask } from '../helpers/dns-client.js';
import { DNSMASQ_MISSING, type Dnsmasq, dnsmasqPath, freePort, startDnsmasq } from '../helpers/dnsmasq.js';
import { type KubeApiServer, type KubeObject, startKubeApi } from '../helpers/kube/index.js';
import { eventually, type Running, startCli, waitForOutput } from '../helpers/meshdns.js';

const SE = 'networking.istio.io/v1';
const W = '*.db.example.com';
const running: Running[] = [];
let api: KubeApiServer;
let upstream: Dnsmasq;
let kubeconfig = '';

const why = dnsmasqPath() ? undefined : DNSMASQ_MISSING;

before(async () => {
  if (why) return;
  api = await startKubeApi();
  kubeconfig = await api.writeKubeconfig(await mkdtemp(join(tmpdir(), 'meshdns-kubeconfig-')));
  upstream = await startDnsmasq({
    hosts: {
      'a.db.example.com': ['127.0.0.2'],
      'b.db.example.com': ['127.0.0.3'],
      'c.db.example.com': ['127.0.0.4'],
      'd.db.example.com': ['127.0.0.5'],
    },
    domain: 'example.com',
  });
});
after(async () => {
  if (why) return;
  await Promise.all(running.map((r) => r.stop()));
  await api.close();
  await upstream.stop();
  await rm(dirname(kubeconfig), { recursive: true, force: true });
});

const DBS: KubeObject = {
  apiVersion: SE,
  kind: 'ServiceEntry',
  metadata: { name: 'dbs', namespace: 'default', labels: { 'meshdns.io/per-name-vips': 'true' } },
  spec: { hosts: [W], ports: [{ number: 5432, name: 'pg', protocol: 'TCP' }], resolution: 'DNS' },
};

const statusOf = () =>
  (api.get(SE, 'ServiceEntry', 'default', 'dbs')?.status as { addresses?: { value: string; host: string }[] })
    ?.addresses ?? [];

/** Short leases, so that a failover takes seconds. */
const LEASE = [
  ...['--leader-elect-lease-duration', '2000', '--leader-elect-renew-deadline', '1500'],
  ...['--leader-elect-retry-period', '300'],
];

async function controller(name: string, xds: number, elect = false): Promise<Running> {
  const c = startCli(
    [
      ...['controller', '--kube', '--kubeconfig', kubeconfig, '--xds-listen', `127.0.0.1:${xds}`],
      ...['--debounce', '20', '--log-level', 'debug', ...(elect ? LEASE : ['--no-leader-elect'])],
    ],
    { env: { POD_NAME: name, POD_NAMESPACE: 'istio-system', POD_IP: '127.0.0.1' } },
  );
  running.push(c);
  await waitForOutput(c, /"msg":"controller ready"/);
  return c;
}

async function agent(xds: number, pod: string): Promise<number> {
  const port = await freePort('127.0.0.1');
  const a = startCli(
    [
      ...['agent', '--controller', `127.0.0.1:${xds}`, '--dns-listen', `127.0.0.1:${port}`],
      ...['--upstream', `${upstream.address}:${upstream.port}`],
    ],
    {
      env: {
        POD_NAME: pod,
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
  return answersOf(await ask('udp', port, name, 'A')).map((l) => l.split(' ').at(-1)!);
}

describe('per-name VIPs with meshdns controller --kube', { skip: why }, () => {
  it('keeps each name in status.addresses (host the name) and serves it again after a restart', async () => {
    api.put(DBS);
    const xds = await freePort('127.0.0.1');
    let c = await controller('controller-0', xds);
    const port = await agent(xds, 'app-1');
    const [vipA] = await addresses(port, 'a.db.example.com');
    const [vipB] = await addresses(port, 'b.db.example.com');
    assert.match(vipA!, /^240\.240\./);
    assert.match(vipB!, /^240\.240\./);
    assert.notEqual(vipA, vipB);
    await eventually(async () => {
      const v4 = statusOf().filter((a) => !a.value.includes(':'));
      assert.deepEqual(
        v4.map((a) => [a.host, a.value]),
        [
          ['a.db.example.com', vipA],
          ['b.db.example.com', vipB],
        ],
      );
    }, 10_000);

    // Restarted, the controller reads the names back from status: b (asked first now) keeps its VIP
    // where a name allocated anew would take the lowest free one.
    await c.stop();
    c = await controller('controller-0', xds);
    const again = await agent(xds, 'app-2');
    assert.deepEqual(await addresses(again, 'b.db.example.com'), [vipB]);
    assert.deepEqual(await addresses(again, 'a.db.example.com'), [vipA]);
    assert.doesNotMatch(c.output(), /per-name VIP asked for/);
    await c.stop();
  });

  it('a follower forwards an ask to the leader; the new leader keeps every name after a failover', async () => {
    const lease = () =>
      api.get('coordination.k8s.io/v1', 'Lease', 'istio-system', 'meshdns-controller') as
        | (KubeObject & { spec?: { holderIdentity?: string } })
        | undefined;
    const [xdsA, xdsB] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    const leader = await controller('controller-a', xdsA, true);
    // The holder writes where it takes forwarded requests.
    await eventually(async () => {
      assert.equal(lease()?.spec?.holderIdentity, 'controller-a');
      assert.equal(lease()?.metadata.annotations?.['meshdns.io/xds-address'], `127.0.0.1:${xdsA}`);
    }, 10_000);
    const follower = await controller('controller-b', xdsB, true);
    const port = await agent(xdsB, 'app-3');
    const known = statusOf().map((a) => a.value);

    // Asked through the follower, allocated by the leader, answered with the VIP at the first query.
    const [vipC] = await addresses(port, 'c.db.example.com');
    assert.match(vipC!, /^240\.240\./);
    assert.ok(!known.includes(vipC!), `${vipC} is new`);
    assert.match(leader.output(), /"name":"c\.db\.example\.com".*"forwarded":true.*per-name VIP asked for/);
    assert.ok(statusOf().some((a) => a.host === 'c.db.example.com' && a.value === vipC));

    // The leader dies: the follower takes the Lease, keeps every name, and allocates new ones itself.
    leader.child.kill('SIGKILL');
    await eventually(async () => assert.equal(lease()?.spec?.holderIdentity, 'controller-b'), 15_000);
    assert.deepEqual(await addresses(port, 'c.db.example.com'), [vipC]);
    const [vipD] = await addresses(port, 'd.db.example.com');
    assert.match(vipD!, /^240\.240\./);
    assert.ok(![...known, vipC].includes(vipD!), `${vipD} is new`);
    await eventually(async () => assert.ok(statusOf().some((a) => a.host === 'd.db.example.com')), 10_000);
    await follower.stop();
  });
});
