// `node dist/bench/source-burst.js [files]`: the manifests source alone while a folder fills up one
// file at a time (issue 8 finding 8). Prints the longest event-loop stall, the scans published and
// the time until the last file is in a snapshot. Not a test: figures vary with the machine.
// On a shared machine a stall may be another process holding the CPU: `busyStallMaxMs` counts only
// the part of each gap that this process spent on the CPU (all its threads), a rough lower bound.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManifestSource } from '../src/sources/index.js';

const count = Number(process.argv[2] ?? 3000);
const service = (i: number) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: s${i}, namespace: default}\nspec: {clusterIP: "10.1.${i >> 8}.${i & 255}"}\n`;

const dir = await mkdtemp(join(tmpdir(), 'meshdns-burst-'));
let published = 0;
let services = 0;
const source = new ManifestSource({
  dir,
  onChange: (snapshot) => {
    published++;
    services = snapshot.services.length;
  },
});
try {
  await source.start();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let busyStallMax = 0;
  let lastWall = performance.now();
  let lastCpu = process.cpuUsage();
  const ticker = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    busyStallMax = Math.max(busyStallMax, Math.min(now - lastWall, (cpu.user + cpu.system) / 1000));
    lastWall = now;
    lastCpu = process.cpuUsage();
  }, 1);
  const started = performance.now();
  for (let i = 0; i < count; i++) await writeFile(join(dir, `s${i}.yaml`), service(i));
  const written = performance.now();
  for (let waited = 0; services < count && waited < 120_000; waited += 10) await sleep(10);
  const seen = performance.now();
  delay.disable();
  clearInterval(ticker);
  const ms = (ns: number) => (ns / 1e6).toFixed(1);
  console.log(
    JSON.stringify({
      files: count,
      seen: services,
      publishes: published,
      writeMs: Math.round(written - started),
      lastSeenAfterWriteMs: Math.round(seen - written),
      loopDelayMaxMs: ms(delay.max),
      loopDelayP99Ms: ms(delay.percentile(99)),
      busyStallMaxMs: busyStallMax.toFixed(1),
    }),
  );
} finally {
  await source.close();
  await rm(dir, { recursive: true, force: true });
}
