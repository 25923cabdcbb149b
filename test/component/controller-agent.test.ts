// `meshdns controller --manifests` and `meshdns agent --controller` as separate processes, as a cluster
// runs them (issue 10 items 3-4): the agent answers what the controller's folder says, follows edits,
// keeps answering while the controller is away, keeps every VIP across a controller restart, sees only
// what its namespace may see, and listens only when the workload's DNS capture is on.
import assert from 'node:assert/strict';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AdsServer, NAME_TABLE_TYPE_URL, nameTableResource, ResourcePublisher } from '../../src/xds/index.js';
import { answersOf, ask } from '../helpers/dns-client.js';
import { freePort } from '../helpers/dnsmasq.js';
import { serviceEntryYaml, tempFolder } from '../helpers/manifests.js';
import { eventually, ROOT, type Running, startCli, waitForDns, waitForOutput } from '../helpers/meshdns.js';

const running: Running[] = [];
// Before tempFolder's own `after` (hooks run in the order they are registered): the processes stop
// first, or a state file they still write can make removing the folder fail (ENOTEMPTY).
after(() => Promise.all(running.map((r) => r.stop())));
const tmp = tempFolder('meshdns-controller-agent-');

const ON = { ISTIO_META_DNS_CAPTURE: 'true', ISTIO_META_DNS_AUTO_ALLOCATE: 'true' };

async function controller(dir: string, xds: number, state: string, extra: string[] = []): Promise<Running> {
  const c = startCli([
    ...['controller', '--manifests', dir, '--xds-listen', `127.0.0.1:${xds}`, '--state-file', state],
    ...['--debounce', '20', '--log-level', 'debug', ...extra],
  ]);
  running.push(c);
  await waitForOutput(c, /"msg":"controller ready"/);
  return c;
}

async function agent(
  xds: number,
  namespace: string,
  env: Record<string, string>,
): Promise<{ a: Running; port: number }> {
  const port = await freePort('127.0.0.1');
  const a = startCli(
    [
      ...['agent', '--controller', `127.0.0.1:${xds}`, '--dns-listen', `127.0.0.1:${port}`],
      ...[
        '--upstream',
        '127.0.0.1:9',
        '--search',
        `${namespace}.svc.cluster.local`,
        '--upstream-timeout',
        '300',
      ],
    ],
    { env: { POD_NAME: `app-${namespace}`, POD_NAMESPACE: namespace, ...env } },
  );
  running.push(a);
  return { a, port };
}

async function answers(port: number, name: string): Promise<string[]> {
  return answersOf(await ask('udp', port, name, 'A')).sort();
}

/** The A records of `name`, once they are `want`. */
async function resolvesTo(port: number, name: string, want: string[]): Promise<void> {
  await eventually(async () => assert.deepEqual((await answers(port, name)).map(dataOf), want), 10_000);
}

const dataOf = (line: string) => line.split(' ').at(-1)!;

describe('meshdns controller and meshdns agent', () => {
  it('answers what the folder says, follows edits, keeps VIPs across a controller restart', async () => {
    const dir = join(tmp(), 'mesh');
    await cp(join(ROOT, 'examples'), dir, { recursive: true });
    const state = join(tmp(), 'state.json');
    const xds = await freePort('127.0.0.1');
    let c = await controller(dir, xds, state);
    const { a, port } = await agent(xds, 'default', ON);
    await waitForDns('127.0.0.1', port);
    await waitForOutput(a, /"msg":"serving DNS"/);
    // A Service by its short name (the agent's own namespace), a pod of a headless Service, a VIP.
    await resolvesTo(port, 'productpage', ['10.96.0.10']);
    await resolvesTo(port, 'ledger-0.ledger.payments', ['10.244.1.5']);
    const dbA = (await answers(port, 'db-a.example.com')).map(dataOf);
    assert.match(dbA[0]!, /^240\.240\./);

    // Add, modify, delete.
    await writeFile(join(dir, 'extra.yaml'), serviceEntryYaml('db-c', 3));
    await eventually(async () => assert.equal((await answers(port, 'db-c.example.com')).length, 1), 10_000);
    const dbC = (await answers(port, 'db-c.example.com')).map(dataOf);
    await writeFile(
      join(dir, 'extra.yaml'),
      serviceEntryYaml('db-c', 3).replace('resolution: DNS', 'resolution: STATIC\n  addresses: [192.0.2.99]'),
    );
    await resolvesTo(port, 'db-c.example.com', ['192.0.2.99']);
    await rm(join(dir, 'extra.yaml'));
    await resolvesTo(port, 'db-c.example.com', []);

    // The controller goes away: the agent keeps answering from its last table.
    await c.stop();
    await resolvesTo(port, 'db-a.example.com', dbA);
    await writeFile(join(dir, 'extra.yaml'), serviceEntryYaml('db-c', 3));
    c = await controller(dir, xds, state);
    // It catches up, and nothing was renumbered: db-a keeps its VIP. db-c's old VIP was freed when it
    // took addresses of its own, so it is held back (issue 14 item 4), across the restart too: db-c,
    // eligible again, gets a new one.
    await eventually(async () => {
      const now = (await answers(port, 'db-c.example.com')).map(dataOf);
      assert.equal(now.length, 1);
      assert.match(now[0]!, /^240\.240\./);
      assert.notDeepEqual(now, dbC);
      assert.notDeepEqual(now, dbA);
    }, 10_000);
    await resolvesTo(port, 'db-a.example.com', dbA);
    assert.match(a.output(), /"msg":"xds reconnect"/);
  });

  it('SIGHUP: the agent takes new search domains from its resolv.conf', async () => {
    const dir = join(tmp(), 'hup');
    await cp(join(ROOT, 'examples'), dir, { recursive: true });
    const xds = await freePort('127.0.0.1');
    await controller(dir, xds, join(tmp(), 'hup.json'));
    const conf = join(tmp(), 'resolv.conf');
    await writeFile(conf, 'nameserver 127.0.0.1\nsearch one.example\n');
    const port = await freePort('127.0.0.1');
    const a = startCli(
      [
        ...['agent', '--controller', `127.0.0.1:${xds}`, '--dns-listen', `127.0.0.1:${port}`],
        ...['--resolv-conf', conf, '--upstream', '127.0.0.1:9', '--upstream-timeout', '300'],
      ],
      { env: { POD_NAME: 'app', POD_NAMESPACE: 'default', ...ON } },
    );
    running.push(a);
    await waitForOutput(a, /"msg":"serving DNS"/);
    assert.deepEqual(await answers(port, 'productpage.one.example'), [
      'productpage A 10.96.0.10',
      'productpage.one.example CNAME productpage',
    ]);
    await writeFile(conf, 'nameserver 127.0.0.1\nsearch two.example\n');
    a.child.kill('SIGHUP');
    await eventually(async () =>
      assert.deepEqual(await answers(port, 'productpage.two.example'), [
        'productpage A 10.96.0.10',
        'productpage.two.example CNAME productpage',
      ]),
    );
    assert.deepEqual(await answers(port, 'productpage.one.example'), []);
  });

  it('SIGHUP: the controller re-reads --mesh-config, and agents follow their new settings', async () => {
    const dir = join(tmp(), 'hup-mesh');
    await mkdir(dir);
    await writeFile(join(dir, 'db.yaml'), serviceEntryYaml('db', 1));
    const mesh = join(tmp(), 'hup-mesh.yaml');
    const autoAllocate = (on: boolean) =>
      `defaultConfig:\n  proxyMetadata:\n    ISTIO_META_DNS_CAPTURE: "true"\n    ISTIO_META_DNS_AUTO_ALLOCATE: "${on}"\n`;
    await writeFile(mesh, autoAllocate(true));
    const xds = await freePort('127.0.0.1');
    const c = await controller(dir, xds, join(tmp(), 'hup-mesh.json'), ['--mesh-config', mesh]);
    // No ISTIO_META_* of its own: the mesh config decides for this agent.
    const { a, port } = await agent(xds, 'default', {});
    await waitForOutput(a, /"msg":"serving DNS"/);
    await resolvesTo(port, 'db.example.com', ['240.240.0.1']);

    await writeFile(mesh, autoAllocate(false));
    c.child.kill('SIGHUP');
    await resolvesTo(port, 'db.example.com', []);
    await writeFile(mesh, 'not: [valid');
    c.child.kill('SIGHUP');
    await waitForOutput(c, /reload failed, keeping what was loaded before/);
    await writeFile(mesh, autoAllocate(true));
    c.child.kill('SIGHUP');
    await resolvesTo(port, 'db.example.com', ['240.240.0.1']);
    assert.equal(c.child.exitCode, null, 'still running');
  });

  it('shows an agent only what its namespace may see (exportTo)', async () => {
    const dir = join(tmp(), 'export');
    await cp(join(ROOT, 'examples'), dir, { recursive: true });
    await writeFile(
      join(dir, 'private.yaml'),
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private, namespace: default}
spec: {hosts: [private.example.com], addresses: [192.0.2.50], exportTo: ["."], resolution: STATIC, ports: [{number: 80, name: http, protocol: HTTP}]}
`,
    );
    const xds = await freePort('127.0.0.1');
    await controller(dir, xds, join(tmp(), 'export.json'));
    const own = await agent(xds, 'default', ON);
    const other = await agent(xds, 'payments', ON);
    await Promise.all([own, other].map(({ a }) => waitForOutput(a, /"msg":"serving DNS"/)));
    await resolvesTo(own.port, 'private.example.com', ['192.0.2.50']);
    // payments gets its own short names and not default's private entry.
    await resolvesTo(other.port, 'checkout', ['10.96.1.10']);
    const reply = await ask('udp', other.port, 'private.example.com', 'A');
    assert.deepEqual(reply.answers, []);
  });

  it('is ready only with a table, and a table it refuses (NACK) leaves the last good one answering', async () => {
    const publisher = new ResourcePublisher();
    const nacks: string[] = [];
    const server = new AdsServer({
      listen: '127.0.0.1:0',
      subscribe: () => publisher,
      onNack: (_stream, _type, version, message) => nacks.push(`${version}: ${message}`),
    });
    await server.start();
    after(() => server.close());
    const [admin, port] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    const ready = async () => (await fetch(`http://127.0.0.1:${admin}/healthz/ready`)).status;
    const b = startCli(
      [
        ...[
          'agent',
          '--controller',
          `127.0.0.1:${server.address().port}`,
          '--dns-listen',
          `127.0.0.1:${port}`,
        ],
        ...['--upstream', '127.0.0.1:9', '--admin-listen', `127.0.0.1:${admin}`, '--upstream-timeout', '300'],
      ],
      { env: { POD_NAME: 'app', POD_NAMESPACE: 'default', ISTIO_META_DNS_CAPTURE: 'true' } },
    );
    running.push(b);
    await eventually(async () => assert.equal(await ready(), 503), 10_000);
    const good = new Map([
      ['db.example.com', { ips: ['192.0.2.1'], registry: 'External' as const, altHosts: [] }],
    ]);
    publisher.publish(NAME_TABLE_TYPE_URL, [nameTableResource(good)], 'v1');
    await resolvesTo(port, 'db.example.com', ['192.0.2.1']);
    assert.equal(await ready(), 200);
    const bad = new Map([
      ['db.example.com', { ips: ['not-an-ip'], registry: 'External' as const, altHosts: [] }],
    ]);
    publisher.publish(NAME_TABLE_TYPE_URL, [nameTableResource(bad)], 'v2');
    await eventually(async () => assert.equal(nacks.length, 1));
    assert.match(nacks[0]!, /^v2: NameTable host db.example.com: ips\[0\] "not-an-ip" is not an IP address/);
    await resolvesTo(port, 'db.example.com', ['192.0.2.1']);
  });

  it('does not listen for a workload whose DNS capture is off, by its own setting or the mesh', async () => {
    const dir = join(tmp(), 'capture');
    await cp(join(ROOT, 'examples'), dir, { recursive: true });
    // The examples turn capture on mesh-wide; here the mesh says nothing.
    await rm(join(dir, 'meshconfig.yaml'));
    const xds = await freePort('127.0.0.1');
    await controller(dir, xds, join(tmp(), 'capture.json'));
    const ownOff = await agent(xds, 'default', { ISTIO_META_DNS_CAPTURE: 'false' });
    const meshOff = await agent(xds, 'default', {});
    const on = await agent(xds, 'default', {
      ISTIO_META_DNS_CAPTURE: 'true',
      ISTIO_META_DNS_AUTO_ALLOCATE: 'false',
    });
    await waitForOutput(ownOff.a, /"msg":"DNS capture is off for this pod: not serving DNS"/);
    await waitForOutput(meshOff.a, /"msg":"DNS capture is off for this workload: not serving DNS"/);
    await waitForOutput(on.a, /"msg":"serving DNS"/);
    // Capture on with auto-allocation turned off: the entry without addresses has no VIP.
    assert.deepEqual(await answers(on.port, 'db-a.example.com'), []);
    await resolvesTo(on.port, 'productpage', ['10.96.0.10']);
    for (const off of [ownOff, meshOff]) {
      await assert.rejects(ask('udp', off.port, 'productpage', 'A', { timeoutMs: 300 }));
      assert.equal(off.a.child.exitCode, null, 'the agent keeps running, following the controller');
    }
  });
});
