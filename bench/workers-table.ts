// What a table costs the answering workers (`--workers`, README "Workers"): the main thread posts the
// diff it applied (its names packed in one string) to every worker, which applies it to its own copy.
// Measured: the main thread's time in setTable (the structured clone of the message, per worker), the
// time until every worker answers the last name from its copy, the process's RSS growth, and the same
// for a worker restarted with the whole table. Usage: node dist/bench/workers-table.js [names] [workers].
import dgram from 'node:dgram';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { Agent } from '../src/agent/index.js';
import { diffTables, NameTable, packSet, TableBuilder, timeSlicer } from '../src/nametable/index.js';

const NAMES = Number(process.argv[2] ?? 50_000);
const WORKERS = Number(process.argv[3] ?? 2);
const CLIENTS = 40;
const scope = { namespace: 'default', clusterDomain: 'cluster.local', searchDomains: ['x.invalid'] };

function records() {
  const builder = new TableBuilder(scope);
  const hosts = Array.from(
    { length: NAMES },
    (_, i): [string, { kind: 'host'; ips: string[]; origin: string }] => [
      `svc-${i}.ns-${i % 50}.svc.cluster.local`,
      {
        kind: 'host',
        ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
        origin: `Service ns-${i % 50}/svc-${i}`,
      },
    ],
  );
  builder.update({ hosts });
  return builder.records;
}

/** True when CLIENTS fresh sockets all get an authoritative answer for `name`. */
async function everyThreadAnswers(port: number, name: string): Promise<boolean> {
  const q = Buffer.from([
    0,
    1,
    1,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]),
    0,
    0,
    1,
    0,
    1,
  ]);
  const one = () =>
    new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      const timer = setTimeout(() => {
        s.close();
        resolve(false);
      }, 500);
      s.on('message', (m) => {
        clearTimeout(timer);
        s.close();
        resolve((m[2]! & 4) !== 0 && m.readUInt16BE(6) > 0);
      });
      s.send(q, port, '127.0.0.1');
    });
  return (await Promise.all(Array.from({ length: CLIENTS }, one))).every(Boolean);
}

async function until(port: number, name: string): Promise<number> {
  const start = performance.now();
  while (!(await everyThreadAnswers(port, name))) {
    if (performance.now() - start > 120_000) throw new Error(`${name} not answered by every thread in 120 s`);
    await sleep(5);
  }
  return performance.now() - start;
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

const recs = records();
const diff = diffTables(undefined, recs);
// In parts of 1,000 names, as the controller's thread sends them (controller/worker.ts).
const packed: string[] = [];
for (let i = 0; i < diff.set.length; i += 1000) packed.push(packSet(diff.set.slice(i, i + 1000)));
diff.set = [];
const table = await NameTable.empty().withDiff(diff, timeSlicer(1000), packed);
const agent = new Agent({
  listen: { host: '127.0.0.1', port: 0 },
  upstreams: [{ host: '127.0.0.1', port: 9 }],
  upstreamTimeoutMs: 200,
  logger: pino({ level: 'silent' }),
  udp: { io: 'native' },
  workers: WORKERS,
  workerRestartDelayMs: 1,
});
await agent.start();
await sleep(500);
const last = `svc-${NAMES - 1}.ns-${(NAMES - 1) % 50}.svc.cluster.local`;
const rss0 = process.memoryUsage().rss;
const stalls = monitorEventLoopDelay({ resolution: 1 });
stalls.enable();
const t0 = performance.now();
agent.setTable(table, 0, { diff, packed });
const posted = performance.now() - t0;
const applied = await until(agent.port, last);
stalls.disable();
await sleep(1000);
const rss1 = process.memoryUsage().rss;
console.log(
  `${NAMES} names, ${WORKERS} answering threads; packed names ${mb(packed.reduce((n, p) => n + Buffer.byteLength(p), 0))} of UTF-8`,
);
console.log(
  `  setTable on the main thread: ${posted.toFixed(1)} ms (posting the diff to ${WORKERS - 1} worker(s))`,
);
console.log(`  until every thread answers the last name: ${applied.toFixed(0)} ms`);
console.log(`  longest event-loop stall of the main thread meanwhile: ${(stalls.max / 1e6).toFixed(1)} ms`);
console.log(`  RSS growth: ${mb(rss1 - rss0)}`);
if (WORKERS > 1) {
  agent.workers!.crash(1);
  while (agent.threadStatus().running === WORKERS) await sleep(1);
  const t1 = performance.now();
  while (agent.threadStatus().running < WORKERS) await sleep(1);
  const restarted = performance.now() - t1 + (await until(agent.port, last));
  console.log(
    `  a worker restarted with the whole table: answering it ${restarted.toFixed(0)} ms after its death`,
  );
}
await agent.close();
