// What a cache per answering thread costs in hits (`--workers`, README "Workers"): the cache scenario's
// stream (10,000 names an upstream dnsmasq holds, 90% of 100,000 queries repeats) sent round-robin from
// CLIENTS sockets, as dnsperf -c sends it, to an agent with 1 or more answering threads; the cache's
// misses and the hit share, summed over the threads. Usage: node dist/bench/workers-cache.js [workers] [clients].
import dgram from 'node:dgram';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Agent } from '../src/agent/index.js';
import { repeatStream, writeUpstreamHosts } from './fixtures/upstream-names.js';
import { freeDnsPort } from './lib/ports.js';
import { ProcessGroup } from './lib/processes.js';
import { startDnsmasq } from './servers/dnsmasq.js';

const WORKERS = Number(process.argv[2] ?? 2);
const CLIENTS = Number(process.argv[3] ?? 4);
const NAMES = 10_000;
/** Queries in flight per client socket, as dnsperf -q 100 over 4 clients. */
const WINDOW = 25;

function query(id: number, name: string): Buffer {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  return Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
}

/** Sends `names` from one socket, WINDOW at a time; resolves when every one is answered. */
function client(port: number, names: string[]): Promise<void> {
  const s = dgram.createSocket('udp4');
  let next = 0;
  let answered = 0;
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${answered} of ${names.length} answered in 60 s`)),
      60_000,
    );
    const send = () => {
      const i = next++;
      s.send(query(i & 0xffff, names[i]!), port, '127.0.0.1');
    };
    s.on('message', () => {
      answered++;
      if (next < names.length) send();
      else if (answered === names.length) {
        clearTimeout(timer);
        s.close();
        resolve();
      }
    });
    for (let i = 0; i < Math.min(WINDOW, names.length); i++) send();
  });
}

const dir = await mkdtemp(path.join(tmpdir(), 'meshdns-workers-cache-'));
// dnsmasq reads the hosts file after dropping to `nobody`.
await chmod(dir, 0o755);
const group = new ProcessGroup();
try {
  const hosts = await writeUpstreamHosts(dir, 'bench.test', NAMES);
  const upstream = await startDnsmasq(group, {
    bin: '/usr/sbin/dnsmasq',
    listen: { host: '127.0.0.81', port: await freeDnsPort('127.0.0.81') },
    hostsFiles: [hosts.hostsFile],
    localDomains: ['bench.test'],
    localTtl: 3600,
    probeName: hosts.names[0]!,
  });
  const agent = new Agent({
    listen: { host: '127.0.0.1', port: 0 },
    upstreams: [upstream.address],
    upstreamTimeoutMs: 2000,
    logger: pino({ level: 'silent' }),
    udp: { io: 'native' },
    workers: WORKERS,
    cache: { maxEntries: 2 * NAMES },
  });
  await agent.start();
  const stream = repeatStream(hosts.names, 0.9, 1);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, (_, c) =>
      client(
        agent.port,
        stream.filter((_, i) => i % CLIENTS === c),
      ),
    ),
  );
  const ms = performance.now() - start;
  await agent.refreshWorkers();
  const cache = agent.cacheStats()!;
  const up = agent.forwarderStats().servers[0]!.queries;
  console.log(
    `${WORKERS} answering thread(s), ${CLIENTS} client sockets, ${stream.length} queries over ${NAMES} names: ` +
      `${cache.misses} misses (${((100 * cache.hits) / (cache.hits + cache.misses)).toFixed(1)}% hits), ` +
      `${up} upstream queries, ${cache.entries} entries held, ${(stream.length / (ms / 1000)).toFixed(0)} qps`,
  );
  await agent.close();
} finally {
  await group.closeAll();
  await rm(dir, { recursive: true, force: true });
}
