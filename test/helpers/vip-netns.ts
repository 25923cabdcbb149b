// The headline scenario's world (issue 4, issue 13): an "app" network namespace with the capture rules
// applied, whose resolv.conf names an ordinary nameserver; an "outside" namespace with that nameserver
// (a real dnsmasq) and the databases on 3306. The agent runs as its own uid in the app namespace.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dnsmasqArgs, dnsmasqPath } from './dnsmasq.js';
import { BIN, ROOT } from './meshdns.js';
import { canMakeNetns, createNetns, type Netns } from './netns.js';

const run = promisify(execFile);
export const AGENT = '1337';
export const NET = '198.51.100'; // TEST-NET-2, only inside the namespaces this test makes
const DNS = `${NET}.2`;
/** Each database's address in the outside namespace; `.15` has no database (connections are reset). */
export const DATABASES = { A: `${NET}.11`, B: `${NET}.12`, C1: `${NET}.13`, C2: `${NET}.14` } as const;

/** What the outside nameserver answers at first. */
export const HOSTS: Record<string, string> = {
  'db-a.example.com': DATABASES.A,
  'db-b.example.com': DATABASES.B,
  'www.example.org': `${NET}.99`,
};

/**
 * Each database greets with its name and answers every line with `name:line`, so a client can tell
 * which one it reached, and later whether an open connection still talks to the same one.
 */
const DATABASE_SERVERS = `
const net = require('node:net');
for (const [name, ip] of Object.entries(${JSON.stringify(DATABASES)})) {
  net.createServer((s) => {
    s.on('error', () => {});
    s.setEncoding('utf8');
    s.write('database ' + name + '\\n');
    s.on('data', (d) => { for (const l of d.split('\\n').filter(Boolean)) s.write(name + ':' + l + '\\n'); });
    s.on('end', () => s.end());
  }).listen(3306, ip);
}`;

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

export async function whyNot(): Promise<string | undefined> {
  return (
    canMakeNetns() ??
    (dnsmasqPath() ? undefined : 'dnsmasq not installed: apt-get install dnsmasq-base') ??
    ((await agentCanRead())
      ? undefined
      : `the checkout is not readable by uid ${AGENT}, which the agent runs as`)
  );
}

export interface VipWorld {
  app: Netns;
  out: Netns;
  dir: string;
  manifests: string;
  /** Runs a command in the app namespace and returns its trimmed stdout. */
  appRun(argv: string[]): Promise<string>;
  /** Rewrites the outside nameserver's hosts file (name → address) and has dnsmasq read it again. */
  setHosts(hosts: Record<string, string>): Promise<void>;
  /** Starts a long-running command in a namespace; stopped by `remove`. */
  spawnIn(ns: Netns, argv: string[]): ChildProcess;
  remove(): Promise<void>;
}

export async function createVipWorld(manifests: string): Promise<VipWorld> {
  const procs: ChildProcess[] = [];
  const app = await createNetns('mdns-app');
  const out = await createNetns('mdns-out');
  const dir = await mkdtemp(join(tmpdir(), 'meshdns-vip-e2e-'));
  let dnsmasq: ChildProcess | undefined;
  const writeHosts = (hosts: Record<string, string>) =>
    writeFile(
      join(dir, 'hosts'),
      Object.entries(hosts)
        .map(([name, ip]) => `${ip} ${name}\n`)
        .join(''),
    );
  const world: VipWorld = {
    app,
    out,
    dir,
    manifests: join(dir, 'manifests'),
    appRun: async (argv) => (await app.exec(argv)).stdout.trim(),
    setHosts: async (hosts) => {
      await writeHosts(hosts);
      // dnsmasq reads its --addn-hosts files again on SIGHUP (`ip netns exec` exec'd it: the pid is its own).
      dnsmasq?.kill('SIGHUP');
    },
    spawnIn: (ns, argv) => {
      const child = spawn('ip', ['netns', 'exec', ns.name, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
      procs.push(child);
      return child;
    },
    remove: async () => {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      await Promise.all(
        procs.map((p) =>
          p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : undefined,
        ),
      );
      await app.remove();
      await out.remove();
      await rm(`/etc/netns/${app.name}`, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
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
    for (const host of [2, 11, 12, 13, 14, 15])
      await out.exec(['ip', 'addr', 'add', `${NET}.${host}/24`, 'dev', vo]);
    await out.exec(['ip', 'link', 'set', vo, 'up']);

    await chmod(dir, 0o755);
    await writeHosts(HOSTS);
    await mkdir(world.manifests);
    await writeFile(join(world.manifests, 'mesh.yaml'), manifests);
    await mkdir(join(dir, 'state'));
    await chown(join(dir, 'state'), Number(AGENT), Number(AGENT));
    // `ip netns exec` bind-mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf.
    await mkdir(`/etc/netns/${app.name}`, { recursive: true });
    await writeFile(
      `/etc/netns/${app.name}/resolv.conf`,
      `nameserver ${DNS}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`,
    );
    const upstream = { domain: 'example.com', extra: ['--local=/example.org/', '--local=/cluster.local/'] };
    dnsmasq = world.spawnIn(out, [
      dnsmasqPath() as string,
      ...dnsmasqArgs(upstream, DNS, 53, join(dir, 'hosts')),
    ]);
    world.spawnIn(out, [process.execPath, '-e', DATABASE_SERVERS]);
    await waitFor(
      () => out.exec(['dig', `@${DNS}`, '+short', '+time=1', '+tries=1', 'www.example.org']),
      (r) => r.stdout.includes('.99'),
    );
    await app.exec([process.execPath, BIN, 'capture', '--apply', '--agent-uid', AGENT, '--agent-gid', AGENT]);
    return world;
  } catch (err) {
    await world.remove();
    throw err;
  }
}

export async function waitFor<T>(
  probe: () => Promise<T>,
  ok: (r: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const r = await probe();
      if (ok(r)) return r;
      last = r;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not ready within ${timeoutMs} ms: ${JSON.stringify(last)?.slice(0, 500)}`);
}
