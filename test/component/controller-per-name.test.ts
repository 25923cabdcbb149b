// Per-name VIPs in cluster mode (issue 14 item 5): `meshdns controller --manifests` allocates, `meshdns
// agent --controller` asks over gRPC (meshdns.v1.PerNameVips) and answers from the table the ADS stream
// brings. A real dnsmasq is the upstream, `dig` the client. Two names under one wildcard get two VIPs,
// a second agent answers the same VIP for the same name, a restarted controller keeps it, a name that
// does not exist gets none, and past --wildcard-vip-cap a name is answered without one.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DIG_MISSING, dig, haveDig } from '../helpers/dig.js';
import { DNSMASQ_MISSING, type Dnsmasq, dnsmasqPath, freePort, startDnsmasq } from '../helpers/dnsmasq.js';
import { tempFolder } from '../helpers/manifests.js';
import { eventually, type Running, startCli, waitForDns, waitForOutput } from '../helpers/meshdns.js';

const MANIFEST = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: dbs
  namespace: default
  labels: {meshdns.io/per-name-vips: "true"}
spec:
  hosts: ["*.db.example.com"]
  ports: [{number: 5432, name: pg, protocol: TCP}]
  resolution: DNS
`;

const UPSTREAM_HOSTS: Record<string, string[]> = {
  'a.db.example.com': ['127.0.0.2'],
  'b.db.example.com': ['127.0.0.3'],
  'c.db.example.com': ['127.0.0.4'],
  'd.db.example.com': ['127.0.0.5'],
};

const ON = { ISTIO_META_DNS_CAPTURE: 'true', ISTIO_META_DNS_AUTO_ALLOCATE: 'true' };

const running: Running[] = [];
after(() => Promise.all(running.map((r) => r.stop())));
const tmp = tempFolder('meshdns-controller-per-name-');

const why = dnsmasqPath() ? ((await haveDig()) ? undefined : DIG_MISSING) : DNSMASQ_MISSING;

describe('per-name VIPs through meshdns controller and meshdns agent', { skip: why }, () => {
  let upstream: Dnsmasq;
  let dir: string;
  let state: string;
  let xds: number;

  before(async () => {
    upstream = await startDnsmasq({ hosts: UPSTREAM_HOSTS, domain: 'example.com' });
    dir = join(tmp(), 'mesh');
    await mkdir(dir);
    await writeFile(join(dir, 'dbs.yaml'), MANIFEST);
    state = join(tmp(), 'state.json');
    xds = await freePort('127.0.0.1');
  });
  after(() => upstream?.stop());

  async function controller(extra: string[] = []): Promise<Running> {
    const c = startCli([
      ...['controller', '--manifests', dir, '--xds-listen', `127.0.0.1:${xds}`, '--state-file', state],
      ...['--wildcard-vip-cap', '3', '--log-level', 'debug', ...extra],
    ]);
    running.push(c);
    await waitForOutput(c, /"msg":"controller ready"/);
    return c;
  }

  async function agent(pod: string): Promise<{ a: Running; port: number; admin: number }> {
    const port = await freePort('127.0.0.1');
    const admin = await freePort('127.0.0.1');
    const a = startCli(
      [
        ...['agent', '--controller', `127.0.0.1:${xds}`, '--dns-listen', `127.0.0.1:${port}`],
        ...['--admin-listen', `127.0.0.1:${admin}`, '--upstream', `${upstream.address}:${upstream.port}`],
      ],
      { env: { POD_NAME: pod, POD_NAMESPACE: 'default', ...ON } },
    );
    running.push(a);
    await waitForDns('127.0.0.1', port);
    await waitForOutput(a, /"msg":"serving DNS"/);
    return { a, port, admin };
  }

  /** The A record data of one query (its first answer's), with the status. */
  async function a(port: number, name: string): Promise<{ status: string; ips: string[]; aa: boolean }> {
    const r = await dig('127.0.0.1', port, name);
    return { status: r.status, ips: r.answers.map((x) => x.data), aa: r.flags.includes('aa') };
  }

  it('gives each name its own VIP, the same on every agent and across a controller restart', async () => {
    let c = await controller();
    const one = await agent('app-1');

    // The first query of each name is answered with its own VIP (authoritative, from the table).
    const first = await a(one.port, 'a.db.example.com');
    const second = await a(one.port, 'b.db.example.com');
    assert.equal(first.status, 'NOERROR');
    assert.equal(first.aa, true);
    assert.match(first.ips[0]!, /^240\.240\./);
    assert.match(second.ips[0]!, /^240\.240\./);
    assert.notDeepEqual(first.ips, second.ips);

    // A name upstream does not know keeps its NXDOMAIN and gets no VIP.
    assert.equal((await a(one.port, 'nx.db.example.com')).status, 'NXDOMAIN');

    // A second agent answers the same VIP for the same name (the controller pushed it to both).
    const two = await agent('app-2');
    assert.deepEqual((await a(two.port, 'a.db.example.com')).ips, first.ips);
    assert.deepEqual((await a(two.port, 'b.db.example.com')).ips, second.ips);

    // The cap (3 names per entry): c gets a VIP, d is answered without one (upstream's address).
    assert.match((await a(two.port, 'c.db.example.com')).ips[0]!, /^240\.240\./);
    assert.deepEqual((await a(two.port, 'd.db.example.com')).ips, ['127.0.0.5']);

    // The agent's /debug/vips lists each name with its wildcard; nx and d are not there.
    const vips = (await (await fetch(`http://127.0.0.1:${one.admin}/debug/vips`)).json()) as {
      vips: { host: string; v4: string; perName?: string }[];
    };
    assert.deepEqual(
      vips.vips.map((v) => [v.host, v.perName]).sort(),
      ['a', 'b', 'c'].map((n) => [`${n}.db.example.com`, '*.db.example.com']),
    );

    // The state file keeps the names (written within wildcardVipSaveDelayMs of their answers).
    await eventually(async () => {
      const saved = JSON.parse(await readFile(state, 'utf8')) as { allocations: { host: string }[] };
      assert.deepEqual(saved.allocations.map((r) => r.host).sort(), [
        'a.db.example.com',
        'b.db.example.com',
        'c.db.example.com',
      ]);
    });

    // Restarted, the controller serves the same VIPs: the first agent (reconnected) and a new one.
    await c.stop();
    c = await controller();
    const three = await agent('app-3');
    // b first: a name allocated anew would take the lowest free VIP, a's.
    assert.deepEqual((await a(three.port, 'b.db.example.com')).ips, second.ips);
    assert.deepEqual((await a(three.port, 'a.db.example.com')).ips, first.ips);
    await eventually(async () => {
      assert.deepEqual((await a(one.port, 'b.db.example.com')).ips, second.ips);
      assert.match(one.a.output(), /"msg":"xds reconnect"/);
    }, 10_000);
    // Still capped after the restart: the three names are restored, d still gets none.
    assert.deepEqual((await a(three.port, 'd.db.example.com')).ips, ['127.0.0.5']);
    assert.doesNotMatch(c.output(), /per-name VIP asked for/);
    await c.stop();
  });

  it('releases a name no agent asked for --wildcard-vip-idle: it leaves every agent', async () => {
    const c = await controller(['--wildcard-vip-idle', '1']);
    const one = await agent('app-idle');
    const listed = async () => {
      const vips = (await (await fetch(`http://127.0.0.1:${one.admin}/debug/vips`)).json()) as {
        vips: { host: string }[];
      };
      return vips.vips.map((v) => v.host);
    };
    // The names the first test gave are released too: nobody asked for them within a second. Both at
    // once: an agent that has no table from the controller yet lists nothing either.
    await eventually(async () => {
      assert.match(c.output(), /per-name VIPs not asked for --wildcard-vip-idle: released/);
      assert.deepEqual(await listed(), []);
    }, 10_000);
    // Asked again, the name gets a VIP again (its old one, held for --vip-release-grace).
    assert.match((await a(one.port, 'a.db.example.com')).ips[0]!, /^240\.240\./);
    await c.stop();
  });
});
