// The headline scenario (issues 4 and 13, SPEC §6–7) in both VIP data planes: databases on port 3306,
// each reached by its own name through its VIP, from an application namespace whose DNS is captured.
// `proxy`: the agent listens on every VIP:port; `nat`: the kernel DNATs, from rules the agent writes.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN } from '../helpers/meshdns.js';
import {
  AGENT,
  createVipWorld,
  DATABASES,
  HOSTS,
  type VipWorld,
  waitFor,
  whyNot,
} from '../helpers/vip-netns.js';
import { VIP_RELAY_KINDS } from '../helpers/vip-relay.js';

const entry = (name: string, created: string, spec: string) => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default, creationTimestamp: "2024-01-0${created}T00:00:00Z"}
spec:
  ports: [{number: 3306, name: mysql, protocol: TCP}]
${spec}`;

/** db-c's endpoints: two databases at first, one other after the edit. */
const manifests = (dbC: string[]) =>
  [
    entry('db-a', '1', '  hosts: [db-a.example.com]\n  resolution: DNS\n'),
    entry('db-b', '2', '  hosts: [db-b.example.com]\n  resolution: DNS\n'),
    entry(
      'db-c',
      '3',
      `  hosts: [db-c.example.com]\n  resolution: STATIC\n  endpoints: [${dbC.map((a) => `{address: ${a}}`).join(', ')}]\n`,
    ),
    // Nothing listens there: the backend resets the connection.
    entry(
      'db-d',
      '4',
      '  hosts: [db-d.example.com]\n  resolution: STATIC\n  endpoints: [{address: 198.51.100.15}]\n',
    ),
    // The upstream knows no address for it: there is no backend at all.
    entry('db-e', '5', '  hosts: [db-e.example.com]\n  resolution: DNS\n'),
    `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: default}
spec:
  template:
    metadata:
      annotations:
        proxy.istio.io/config: |
          proxyMetadata:
            ISTIO_META_DNS_CAPTURE: "true"
`,
  ].join('');

/** Connects to host:3306 by name (glibc resolves it) and prints the greeting, or the error's code. */
const CLIENT = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: 3306 });
let got = '';
s.setEncoding('utf8');
s.on('data', (d) => { got += d; if (got.includes('\\n')) { process.stdout.write(got.trim() + ' via ' + s.remoteAddress); s.end(); } });
s.on('end', () => { if (!got) process.stdout.write('closed'); });
s.on('error', (e) => { process.stdout.write('error ' + e.code); });`;

/** Holds a connection open: prints the greeting, then sends each stdin line and prints the answer. */
const HOLDER = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: 3306 });
s.setEncoding('utf8');
s.on('data', (d) => process.stdout.write(d));
s.on('error', (e) => { process.stdout.write('error ' + e.code + '\\n'); process.exit(1); });
process.stdin.on('data', (d) => s.write(d));
process.stdin.on('end', () => s.end());`;

const why = await whyNot();

/** The proxy on each of its relays (both where the addon is built), and the kernel's NAT. */
const PLANES = [
  ...VIP_RELAY_KINDS.map((relay) => ({ dataplane: 'proxy' as const, relay })),
  { dataplane: 'nat' as const, relay: undefined },
];

for (const { dataplane, relay } of PLANES) {
  const flags = `--vip-dataplane ${dataplane}${relay ? ` --vip-relay ${relay}` : ''}`;
  describe(`databases on 3306 through their VIPs, DNS captured (${flags})`, {
    skip: why,
  }, () => {
    let world: VipWorld;
    let agent: ChildProcess | undefined;
    let agentLog = '';
    const connect = (host: string) => world.appRun([process.execPath, '-e', CLIENT, host]);
    const rules = async () =>
      `${await world.appRun(['iptables-save'])}\n${await world.appRun(['ip6tables-save'])}`
        .split('\n')
        .filter((l) => l.includes('MESHDNS_VIP'));

    /** The agent as uid 1337; in nat mode with NET_ADMIN (and NET_RAW) as ambient capabilities. */
    const startAgent = async () => {
      const caps =
        dataplane === 'nat' ? ['--inh-caps=+net_admin,+net_raw', '--ambient-caps=+net_admin,+net_raw'] : [];
      const before = agentLog.length;
      agent = world.spawnIn(world.app, [
        'setpriv',
        `--reuid=${AGENT}`,
        `--regid=${AGENT}`,
        '--clear-groups',
        ...caps,
        process.execPath,
        BIN,
        'serve',
        '--manifests',
        world.manifests,
        '--workload',
        'default/app',
        '--vip-proxy',
        '--vip-dataplane',
        dataplane,
        ...(relay ? ['--vip-relay', relay] : []),
        '--state-file',
        join(world.dir, 'state', 'allocations.json'),
      ]);
      const log = (d: Buffer) => {
        agentLog += d;
      };
      agent.stdout?.on('data', log);
      agent.stderr?.on('data', log);
      // The agent forwards (here: to the real address) until its table is in; wait for the table.
      await waitFor(
        async () => agentLog.slice(before),
        (l) => /"msg":"serving DNS"/.test(l),
      );
      // The first routes are applied just after: a VIP answers once its rules (or listener) are in.
      await waitFor(
        () => connect('db-a.example.com'),
        (got) => got.startsWith('database A'),
      );
    };
    const stopAgent = async (signal: NodeJS.Signals) => {
      const a = agent;
      agent = undefined;
      if (!a || a.exitCode !== null || a.signalCode !== null) return;
      const exited = new Promise((r) => a.once('exit', r));
      // `ip netns exec` execs setpriv, which execs node: the signal reaches the agent itself.
      a.kill(signal);
      await exited;
    };

    before(async () => {
      world = await createVipWorld(manifests(['198.51.100.13', '198.51.100.14']));
      await startAgent();
    });
    after(async () => {
      await stopAgent('SIGTERM');
      await world?.remove();
    });

    it('getent resolves each database to its VIP through the captured nameserver', async () => {
      assert.match(
        await world.appRun(['getent', 'ahosts', 'db-a.example.com']),
        /^240\.240\.0\.1\s/m,
        agentLog,
      );
      assert.match(await world.appRun(['getent', 'ahosts', 'db-b.example.com']), /^240\.240\.0\.2\s/m);
    });

    it('dig to the resolv.conf nameserver is answered by the agent', async () => {
      assert.equal(await world.appRun(['dig', '+short', 'db-b.example.com']), '240.240.0.2');
      assert.equal(await world.appRun(['dig', '+short', 'AAAA', 'db-a.example.com']), '2001:2::1');
      assert.equal(await world.appRun(['dig', '+short', '+tcp', 'db-a.example.com']), '240.240.0.1');
    });

    it('each name on port 3306 reaches its own database', async () => {
      assert.match(
        await connect('db-a.example.com'),
        /^database A via (240\.240\.0\.1|2001:2::1)$/,
        agentLog,
      );
      assert.match(await connect('db-b.example.com'), /^database B via (240\.240\.0\.2|2001:2::2)$/);
    });

    it('connections to one entry are spread over both its endpoints', async () => {
      const seen = new Set<string>();
      // proxy: round-robin, two connections suffice; nat: random halves, 30 miss one at odds of 2^-29.
      for (let i = 0; i < 30 && seen.size < 2; i++) seen.add(await connect('db-c.example.com'));
      assert.deepEqual(
        [...seen].map((s) => s.replace(/ via .*/, '')).sort(),
        ['database C1', 'database C2'],
        [...seen].join('\n'),
      );
    });

    it('a backend that resets, and an entry with no backend at all, refuse the client', async () => {
      // proxy: accepted, then reset once the backend refuses; nat: the SYN itself is refused.
      const refused =
        dataplane === 'nat' ? /^error ECONNREFUSED$/ : /^(error ECONNRESET|error ECONNREFUSED|closed)$/;
      assert.match(await connect('db-d.example.com'), refused);
      assert.match(await connect('db-e.example.com'), refused);
    });

    it('an edit re-pointing a VIP: the open connection keeps its backend, the next gets the new one', async () => {
      const holder = spawn(
        'ip',
        ['netns', 'exec', world.app.name, process.execPath, '-e', HOLDER, 'db-c.example.com'],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let held = '';
      holder.stdout.on('data', (d) => {
        held += d;
      });
      try {
        const greeting = await waitFor(
          async () => held,
          (h) => /database (C1|C2)\n/.test(h),
        );
        const name = /database (C1|C2)/.exec(greeting)![1];
        await writeFile(join(world.manifests, 'mesh.yaml'), manifests(['198.51.100.12']));
        await waitFor(
          () => connect('db-c.example.com'),
          (got) => got.startsWith('database B'),
        );
        holder.stdin.write('still there?\n');
        await waitFor(
          async () => held,
          (h) => h.includes(':still there?'),
        );
        assert.match(held, new RegExp(`^${name}:still there\\?$`, 'm'), held);
      } finally {
        const exited = new Promise((r) => holder.once('exit', r));
        holder.stdin.end();
        await exited;
      }
    });

    it('a DNS entry follows its name when the upstream answer changes (re-resolved at its TTL)', async () => {
      await world.setHosts({ ...HOSTS, 'db-b.example.com': DATABASES.A });
      try {
        // dnsmasq gives hosts-file answers TTL 0: the VIP follows within the 1 s floor (nat: the rules).
        await waitFor(
          () => connect('db-b.example.com'),
          (got) => got.startsWith('database A'),
        );
      } finally {
        await world.setHosts(HOSTS);
      }
      await waitFor(
        () => connect('db-b.example.com'),
        (got) => got.startsWith('database B'),
      );
    });

    it('other names are forwarded to the outside nameserver', async () => {
      assert.match(await world.appRun(['getent', 'ahosts', 'www.example.org']), /^198\.51\.100\.99\s/m);
    });

    if (relay) {
      it(`/debug/vips names the relay (${relay})`, async () => {
        const fetchVips = `fetch('http://127.0.0.1:15020/debug/vips').then((r) => r.text()).then((t) => process.stdout.write(t))`;
        const vips = JSON.parse(await world.appRun([process.execPath, '-e', fetchVips]));
        assert.equal(vips.proxy.dataplane, 'proxy');
        assert.equal(vips.proxy.relay, relay);
        const db = vips.proxy.listeners.find((l: { vip: string }) => l.vip === '240.240.0.1');
        assert.ok(db.total > 0 && db.bytesToClient > 0, JSON.stringify(db));
      });
    }

    if (dataplane === 'nat') {
      it('the rules are ours and /debug/vips names the data plane of each VIP', async () => {
        const got = await rules();
        assert.ok(
          got.some((l) =>
            /-A MESHDNS_VIP -d 240\.240\.0\.3\/32 .*-j DNAT --to-destination 198\.51\.100\.12:3306/.test(l),
          ),
          got.join('\n'),
        );
        assert.ok(
          got.some((l) =>
            /-A MESHDNS_VIP_REJECT -d 240\.240\.0\.5\/32 .*REJECT --reject-with tcp-reset/.test(l),
          ),
        );
        const fetchVips = `fetch('http://127.0.0.1:15020/debug/vips').then((r) => r.text()).then((t) => process.stdout.write(t))`;
        const vips = JSON.parse(await world.appRun([process.execPath, '-e', fetchVips]));
        assert.equal(vips.proxy.dataplane, 'nat');
        const served = vips.proxy.served.find((s: { vip: string }) => s.vip === '240.240.0.1');
        assert.equal(served?.dataplane, 'nat', JSON.stringify(vips.proxy.served));
        assert.deepEqual(served.backends, ['198.51.100.11:3306']);
      });

      it('after kill -9 the rules stay; a restart rebuilds them, one copy', async () => {
        const before = (await rules()).sort();
        await stopAgent('SIGKILL');
        assert.deepEqual((await rules()).sort(), before, 'nothing ran to remove them');
        await startAgent();
        assert.deepEqual((await rules()).sort(), before);
      });

      it('SIGTERM removes every rule of ours; the capture rules stay', async () => {
        await stopAgent('SIGTERM');
        assert.deepEqual(await rules(), []);
        assert.match(await world.appRun(['iptables-save', '-t', 'nat']), /MESHDNS_DNS/);
        await startAgent();
        assert.notDeepEqual(await rules(), []);
      });
    }

    it('capture --remove leaves no rule and no route behind', async () => {
      // nat: after a kill -9, so that only capture --remove can clean up.
      if (dataplane === 'nat') await stopAgent('SIGKILL');
      await world.app.exec([
        process.execPath,
        BIN,
        'capture',
        '--remove',
        '--agent-uid',
        AGENT,
        '--agent-gid',
        AGENT,
      ]);
      const all = `${await world.appRun(['iptables-save'])}\n${await world.appRun(['ip6tables-save'])}`;
      assert.doesNotMatch(all, /MESHDNS/);
      assert.doesNotMatch(await world.appRun(['ip', 'route', 'show', 'table', 'local']), /240\.240/);
    });
  });
}
