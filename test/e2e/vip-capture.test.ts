// The headline scenario (issue 4, SPEC §6–7): two external databases on port 3306, each reached by
// its own name through its VIP. An "app" network namespace with the capture rules applied, whose
// resolv.conf names an ordinary nameserver; an "outside" namespace with that nameserver (a real
// dnsmasq) and the two databases. The agent runs as its own uid in the app namespace.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { dnsmasqArgs, dnsmasqPath } from '../helpers/dnsmasq.js';
import { BIN, ROOT } from '../helpers/meshdns.js';
import { canMakeNetns, createNetns, type Netns } from '../helpers/netns.js';

const run = promisify(execFile);
const AGENT = '1337';
const NET = '198.51.100'; // TEST-NET-2, only inside the namespaces this test makes
const DNS = `${NET}.2`;

const MANIFESTS = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db-a, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  hosts: [db-a.example.com]
  ports: [{number: 3306, name: mysql, protocol: TCP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db-b, namespace: default, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  hosts: [db-b.example.com]
  ports: [{number: 3306, name: mysql, protocol: TCP}]
  resolution: DNS
---
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
`;

/** Each database greets with its identity, so the client can tell which one it reached. */
const DATABASES = `
const net = require('node:net');
for (const [ip, name] of [['${NET}.11', 'A'], ['${NET}.12', 'B']]) {
  net.createServer((s) => { s.on('error', () => {}); s.end('database ' + name + '\\n'); }).listen(3306, ip);
}`;

/** Connects to host:3306 by name (glibc resolves it) and prints what the server says. */
const CLIENT = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: 3306 });
let got = '';
s.on('data', (d) => { got += d; });
s.on('end', () => { process.stdout.write(got.trim() + ' via ' + s.remoteAddress); });
s.on('error', (e) => { console.error(e.message); process.exit(1); });`;

/** The agent runs as its own uid, so it must be able to read the checkout. */
async function agentCanRead(): Promise<boolean> {
  const probe = [
    '--reuid',
    AGENT,
    '--regid',
    AGENT,
    '--clear-groups',
    'test',
    '-r',
    join(ROOT, 'dist/src/cli/main.js'),
  ];
  return run('setpriv', probe).then(
    () => true,
    () => false,
  );
}

const why =
  canMakeNetns() ??
  (dnsmasqPath() ? undefined : 'dnsmasq not installed: apt-get install dnsmasq-base') ??
  ((await agentCanRead())
    ? undefined
    : `the checkout is not readable by uid ${AGENT}, which the agent runs as`);

describe('two databases on 3306 through their VIPs, DNS captured', { skip: why }, () => {
  let app: Netns;
  let out: Netns;
  let dir: string;
  const procs: ChildProcess[] = [];
  let agentLog = '';

  const inNs = (ns: Netns, argv: string[], opts: { detached?: boolean } = {}) => {
    const child = spawn('ip', ['netns', 'exec', ns.name, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...opts,
    });
    procs.push(child);
    return child;
  };
  const appRun = async (argv: string[]) => (await app.exec(argv)).stdout.trim();

  before(async () => {
    app = await createNetns('mdns-app');
    out = await createNetns('mdns-out');
    const [va, vo] = [`va${app.name.slice(-6)}`, `vo${app.name.slice(-6)}`];
    await run('ip', [
      'link',
      'add',
      va,
      'netns',
      app.name,
      'type',
      'veth',
      'peer',
      'name',
      vo,
      'netns',
      out.name,
    ]);
    await app.exec(['ip', 'addr', 'add', `${NET}.1/24`, 'dev', va]);
    await app.exec(['ip', 'link', 'set', va, 'up']);
    for (const host of [2, 11, 12]) await out.exec(['ip', 'addr', 'add', `${NET}.${host}/24`, 'dev', vo]);
    await out.exec(['ip', 'link', 'set', vo, 'up']);

    dir = await mkdtemp(join(tmpdir(), 'meshdns-vip-e2e-'));
    await chmod(dir, 0o755);
    await writeFile(
      join(dir, 'hosts'),
      `${NET}.11 db-a.example.com\n${NET}.12 db-b.example.com\n${NET}.99 www.example.org\n`,
    );
    await mkdir(join(dir, 'manifests'));
    await writeFile(join(dir, 'manifests', 'mesh.yaml'), MANIFESTS);
    await mkdir(join(dir, 'state'));
    await chown(join(dir, 'state'), Number(AGENT), Number(AGENT));
    // `ip netns exec` bind-mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf.
    await mkdir(`/etc/netns/${app.name}`, { recursive: true });
    await writeFile(
      `/etc/netns/${app.name}/resolv.conf`,
      `nameserver ${DNS}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`,
    );

    const upstream = { domain: 'example.com', extra: ['--local=/example.org/', '--local=/cluster.local/'] };
    inNs(out, [dnsmasqPath() as string, ...dnsmasqArgs(upstream, DNS, 53, join(dir, 'hosts'))]);
    inNs(out, [process.execPath, '-e', DATABASES]);
    await waitFor(
      () => out.exec(['dig', `@${DNS}`, '+short', '+time=1', '+tries=1', 'www.example.org']),
      (r) => r.stdout.includes('.99'),
    );

    await app.exec([process.execPath, BIN, 'capture', '--apply', '--agent-uid', AGENT, '--agent-gid', AGENT]);
    const agent = inNs(app, [
      'setpriv',
      `--reuid=${AGENT}`,
      `--regid=${AGENT}`,
      '--clear-groups',
      process.execPath,
      BIN,
      'serve',
      '--manifests',
      join(dir, 'manifests'),
      '--workload',
      'default/app',
      '--vip-proxy',
      '--state-file',
      join(dir, 'state', 'allocations.json'),
    ]);
    agent.stdout?.on('data', (d) => {
      agentLog += d;
    });
    agent.stderr?.on('data', (d) => {
      agentLog += d;
    });
    // The agent forwards (here: to the real address) until its table is in; wait for the table.
    await waitFor(
      async () => agentLog,
      (log) => /"msg":"serving DNS"/.test(log),
    );
  });

  after(async () => {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(
      procs.map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : undefined)),
    );
    await app?.remove();
    await out?.remove();
    if (app) await rm(`/etc/netns/${app.name}`, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('getent resolves each database to its VIP through the captured nameserver', async () => {
    assert.match(await appRun(['getent', 'ahosts', 'db-a.example.com']), /^240\.240\.0\.1\s/m, agentLog);
    assert.match(await appRun(['getent', 'ahosts', 'db-b.example.com']), /^240\.240\.0\.2\s/m);
  });

  it('dig to the resolv.conf nameserver is answered by the agent', async () => {
    assert.equal(await appRun(['dig', '+short', 'db-b.example.com']), '240.240.0.2');
    assert.equal(await appRun(['dig', '+short', 'AAAA', 'db-a.example.com']), '2001:2::1');
    assert.equal(await appRun(['dig', '+short', '+tcp', 'db-a.example.com']), '240.240.0.1');
  });

  it('each name on port 3306 reaches its own database', async () => {
    assert.match(
      await appRun([process.execPath, '-e', CLIENT, 'db-a.example.com']),
      /^database A via (240\.240\.0\.1|2001:2::1)$/,
      agentLog,
    );
    assert.match(
      await appRun([process.execPath, '-e', CLIENT, 'db-b.example.com']),
      /^database B via (240\.240\.0\.2|2001:2::2)$/,
    );
  });

  it('other names are forwarded to the outside nameserver', async () => {
    assert.match(await appRun(['getent', 'ahosts', 'www.example.org']), new RegExp(`^${NET}\\.99\\s`, 'm'));
  });

  it('capture --remove leaves no rule and no route behind', async () => {
    await app.exec([
      process.execPath,
      BIN,
      'capture',
      '--remove',
      '--agent-uid',
      AGENT,
      '--agent-gid',
      AGENT,
    ]);
    const rules = `${await appRun(['iptables-save'])}\n${await appRun(['ip6tables-save'])}`;
    assert.doesNotMatch(rules, /MESHDNS/);
    assert.doesNotMatch(await appRun(['ip', 'route', 'show', 'table', 'local']), /240\.240/);
  });
});

async function waitFor<T>(probe: () => Promise<T>, ok: (r: T) => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const r = await probe();
      if (ok(r)) return;
      last = r;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not ready within ${timeoutMs} ms: ${JSON.stringify(last)?.slice(0, 500)}`);
}
