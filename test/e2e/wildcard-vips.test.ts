// Per-name VIPs under one wildcard ServiceEntry (issue 14 item 5): two databases under
// `*.db.example.com`, both on 5432, each reached by its own name through its own VIP. Everything runs in
// a network namespace the test makes: a real dnsmasq upstream on loopback answering the two names with two
// loopback addresses, two TCP backends there, `meshdns serve --vip-proxy`, the VIP range routed locally.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dnsmasqArgs, dnsmasqPath } from '../helpers/dnsmasq.js';
import { BIN } from '../helpers/meshdns.js';
import { canMakeNetns, createNetns, type Netns } from '../helpers/netns.js';
import { waitFor } from '../helpers/vip-netns.js';

const UPSTREAM = '127.0.0.53';
const BACKENDS = { A: '127.0.0.2', B: '127.0.0.3' } as const;
const DNS = ['@127.0.0.1', '-p', '15053'];

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

/** Each backend greets with its name, so a client can tell which one it reached. */
const BACKEND_SERVERS = `
const net = require('node:net');
for (const [name, ip] of Object.entries(${JSON.stringify(BACKENDS)})) {
  net.createServer((s) => { s.on('error', () => {}); s.end('database ' + name + '\\n'); }).listen(5432, ip);
}`;

/** Connects to ip:5432 and prints the greeting, or the error's code. */
const CLIENT = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: 5432 });
let got = '';
s.setEncoding('utf8');
s.on('data', (d) => { got += d; });
s.on('end', () => process.stdout.write(got.trim() || 'closed'));
s.on('error', (e) => process.stdout.write('error ' + e.code));`;

/** The agent's /metrics, fetched inside the namespace. */
const FETCH_METRICS = `fetch('http://127.0.0.1:15020/metrics').then((r) => r.text()).then((t) => process.stdout.write(t));`;

/** The agent's /debug/vips, fetched inside the namespace. */
const FETCH_VIPS = `fetch('http://127.0.0.1:15020/debug/vips').then((r) => r.text()).then((t) => process.stdout.write(t));`;

const why =
  canMakeNetns() ?? (dnsmasqPath() ? undefined : 'dnsmasq not installed: apt-get install dnsmasq-base');

/** More names than threads: with `--workers 3` the first queries reach the answering workers too. */
const NAMES = ['c', 'd', 'e', 'f', 'g', 'h'].map((n) => `${n}.db.example.com`);

/** What the upstream answers: a and b their backends, the others A's. */
const HOSTS = [`${BACKENDS.A} a.db.example.com`, `${BACKENDS.B} b.db.example.com`]
  .concat([...NAMES, 'past-cap.db.example.com'].map((n) => `${BACKENDS.A} ${n}`))
  .join('\n');

/**
 * What both scenarios run beside meshdns in `ns`: the manifests in `dir`, the VIP range routed to the
 * namespace's own loopback (a connection to a VIP reaches the proxy's listener), dnsmasq as the upstream
 * (NXDOMAIN for the names under example.com it does not know) and the two backends; resolves once the
 * upstream answers.
 */
async function startMesh(ns: Netns, dir: string, spawnIn: (argv: string[]) => unknown): Promise<void> {
  await mkdir(join(dir, 'manifests'));
  await writeFile(join(dir, 'manifests', 'dbs.yaml'), MANIFEST);
  await writeFile(join(dir, 'hosts'), `${HOSTS}\n`);
  await ns.exec(['ip', 'route', 'add', 'local', '240.240.0.0/16', 'dev', 'lo']);
  spawnIn([dnsmasqPath()!, ...dnsmasqArgs({ domain: 'example.com' }, UPSTREAM, 53, join(dir, 'hosts'))]);
  spawnIn([process.execPath, '-e', BACKEND_SERVERS]);
  await waitFor(
    async () =>
      (
        await ns.exec(['dig', `@${UPSTREAM}`, '+short', '+time=1', '+tries=1', 'a.db.example.com'])
      ).stdout.trim(),
    (r) => r === BACKENDS.A,
  );
}

for (const workers of [1, 3])
  describe(`two names under one wildcard on one port, each through its own VIP (--workers ${workers})`, {
    skip: why,
  }, () => {
    let ns: Netns;
    let dir: string;
    const procs: ChildProcess[] = [];
    let serve: ChildProcess | undefined;
    let log = '';
    const run = async (argv: string[]) => (await ns.exec(argv)).stdout.trim();
    const dig = (...args: string[]) => run(['dig', ...DNS, '+short', '+time=3', '+tries=1', ...args]);
    const spawnIn = (argv: string[]) => {
      const child = spawn('ip', ['netns', 'exec', ns.name, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
      procs.push(child);
      return child;
    };
    const stop = async (child: ChildProcess) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    };
    const startServe = async (extra: string[] = []) => {
      const from = log.length;
      serve = spawnIn([
        process.execPath,
        BIN,
        'serve',
        ...['--manifests', join(dir, 'manifests'), '--state-file', join(dir, 'state.json')],
        ...[
          '--upstream',
          `${UPSTREAM}:53`,
          '--dns-listen',
          '127.0.0.1:15053',
          '--admin-listen',
          '127.0.0.1:15020',
        ],
        '--vip-proxy',
        ...['--workers', String(workers)],
        ...extra,
      ]);
      const take = (d: Buffer) => {
        log += d;
      };
      serve.stdout?.on('data', take);
      serve.stderr?.on('data', take);
      await waitFor(
        async () => log.slice(from),
        (l) => /"msg":"serving DNS"/.test(l),
      );
    };

    before(async () => {
      ns = await createNetns('mdns-wild');
      dir = await mkdtemp(join(tmpdir(), 'meshdns-wildcard-e2e-'));
      await startMesh(ns, dir, spawnIn);
      await startServe();
    });

    after(async () => {
      for (const p of procs) await stop(p);
      await ns?.remove();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('the first query of each name is answered with a VIP of its own, over UDP and TCP', async () => {
      const a = await dig('a.db.example.com');
      const b = await dig('+tcp', 'b.db.example.com');
      assert.match(a, /^240\.240\.\d+\.\d+$/, log);
      assert.match(b, /^240\.240\.\d+\.\d+$/, log);
      assert.notEqual(a, b);
      assert.equal(await dig('+tcp', 'a.db.example.com'), a, 'the same VIP the next time');
      assert.equal(await dig('b.db.example.com'), b);
      assert.match(await dig('AAAA', 'a.db.example.com'), /^2001:2::/);
    });

    it('every first query gets a VIP, on whichever thread it lands', async () => {
      const got = await Promise.all(NAMES.map((n) => dig(n)));
      for (const vip of got) assert.match(vip, /^240\.240\.\d+\.\d+$/, `${got.join(' ')}\n${log}`);
      assert.equal(new Set(got).size, NAMES.length);
    });

    it('each name on port 5432 reaches its own backend through its VIP', async () => {
      const connect = async (name: string) => run([process.execPath, '-e', CLIENT, await dig(name)]);
      assert.equal(await connect('a.db.example.com'), 'database A', log);
      assert.equal(await connect('b.db.example.com'), 'database B', log);
    });

    it('a name upstream does not know gets its NXDOMAIN, and no VIP', async () => {
      const full = await run(['dig', ...DNS, '+time=3', '+tries=1', 'nope.db.example.com']);
      assert.match(full, /status: NXDOMAIN/, full);
    });

    it('/debug/vips lists the per-name VIPs, and a restart keeps them', async () => {
      const a = await dig('a.db.example.com');
      const vips = JSON.parse(await run([process.execPath, '-e', FETCH_VIPS])) as {
        vips: { host: string; perName?: string; v4?: string }[];
      };
      const listed = vips.vips.find((v) => v.host === 'a.db.example.com');
      assert.deepEqual([listed?.perName, listed?.v4], ['*.db.example.com', a]);
      await stop(serve!);
      await startServe();
      assert.equal(await dig('a.db.example.com'), a, log);
    });

    it('past --wildcard-vip-cap a new name is forwarded, counted in the metrics', async () => {
      const held = 2 + NAMES.length;
      await stop(serve!);
      await startServe(['--wildcard-vip-cap', String(held)]);
      assert.equal(await dig('past-cap.db.example.com'), BACKENDS.A, 'the upstream address, no VIP');
      assert.match(await dig('b.db.example.com'), /^240\.240\./, 'the names held keep theirs');
      const metrics = await run([process.execPath, '-e', FETCH_METRICS]);
      assert.match(metrics, /meshdns_limit_reached_total\{limit="wildcard_vips"\} 1$/m, metrics);
    });

    it('a name not asked for --wildcard-vip-idle loses its VIP, and gets it back within the grace period', async () => {
      const b = await dig('b.db.example.com');
      await stop(serve!);
      await startServe(['--wildcard-vip-idle', '1']);
      const listed = async () => {
        const vips = JSON.parse(await run([process.execPath, '-e', FETCH_VIPS])) as {
          vips: { host: string }[];
        };
        return vips.vips.some((v) => v.host === 'b.db.example.com');
      };
      await waitFor(listed, (l) => !l);
      assert.equal(await dig('b.db.example.com'), b, log);
      assert.equal(await listed(), true);
    });
  });

// The same through `meshdns controller --manifests` and `meshdns agent --controller --vip-proxy` (cluster
// mode): the agent asks the controller over gRPC (PerNameVips) and answers from the table and routes its
// ADS stream brings; a second agent answers the same VIP for the same name.
describe('two names under one wildcard on one port through meshdns controller and meshdns agent', {
  skip: why,
}, () => {
  let ns: Netns;
  let dir: string;
  const procs: ChildProcess[] = [];
  let log = '';
  const run = async (argv: string[]) => (await ns.exec(argv)).stdout.trim();
  const digAt = (port: number, ...args: string[]) =>
    run(['dig', '@127.0.0.1', '-p', String(port), '+short', '+time=3', '+tries=1', ...args]);
  const spawnIn = (argv: string[], env: Record<string, string> = {}) => {
    const child = spawn('ip', ['netns', 'exec', ns.name, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    procs.push(child);
    const take = (d: Buffer) => {
      log += d;
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    return child;
  };
  const startAgent = async (pod: string, dns: number, admin: number, proxy = true) => {
    const from = log.length;
    spawnIn(
      [
        ...[process.execPath, BIN, 'agent', '--controller', '127.0.0.1:15010'],
        ...['--dns-listen', `127.0.0.1:${dns}`, '--admin-listen', `127.0.0.1:${admin}`],
        ...['--upstream', `${UPSTREAM}:53`, ...(proxy ? ['--vip-proxy'] : [])],
      ],
      {
        POD_NAME: pod,
        POD_NAMESPACE: 'default',
        ISTIO_META_DNS_CAPTURE: 'true',
        ISTIO_META_DNS_AUTO_ALLOCATE: 'true',
      },
    );
    await waitFor(
      async () => log.slice(from),
      (l) => /"msg":"serving DNS"/.test(l),
    );
  };

  before(async () => {
    ns = await createNetns('mdns-wildc');
    dir = await mkdtemp(join(tmpdir(), 'meshdns-wildcard-cluster-e2e-'));
    await startMesh(ns, dir, (argv) => spawnIn(argv));
    spawnIn([
      ...[process.execPath, BIN, 'controller', '--manifests', join(dir, 'manifests')],
      ...['--state-file', join(dir, 'state.json'), '--xds-listen', '127.0.0.1:15010'],
      ...['--admin-listen', '127.0.0.1:15014'],
    ]);
    await waitFor(
      async () => log,
      (l) => /"msg":"controller ready"/.test(l),
    );
    await startAgent('app-1', 15053, 15020);
  });

  after(async () => {
    for (const p of procs) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
    await ns?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives each name its VIP at the first query, and each reaches its own backend on 5432', async () => {
    const a = await digAt(15053, 'a.db.example.com');
    const b = await digAt(15053, '+tcp', 'b.db.example.com');
    assert.match(a, /^240\.240\.\d+\.\d+$/, log);
    assert.match(b, /^240\.240\.\d+\.\d+$/, log);
    assert.notEqual(a, b);
    const connect = async (vip: string) => run([process.execPath, '-e', CLIENT, vip]);
    assert.equal(await connect(a), 'database A', log);
    assert.equal(await connect(b), 'database B', log);
  });

  it('a name upstream does not know gets its NXDOMAIN, and no VIP', async () => {
    const full = await run(['dig', ...DNS, '+time=3', '+tries=1', 'nope.db.example.com']);
    assert.match(full, /status: NXDOMAIN/, full);
  });

  it('a second agent answers the same VIP for each name', async () => {
    const a = await digAt(15053, 'a.db.example.com');
    const b = await digAt(15053, 'b.db.example.com');
    // One network namespace holds one proxy per VIP: the second agent answers DNS only.
    await startAgent('app-2', 15054, 15021, false);
    assert.equal(await digAt(15054, 'b.db.example.com'), b, log);
    assert.equal(await digAt(15054, 'a.db.example.com'), a, log);
  });
});
