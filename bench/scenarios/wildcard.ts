// Scenario "wildcard" (issue 14 item 5): per-name VIPs under one wildcard ServiceEntry. Per run, 1,024 new
// names under `*.wild.test` are asked one at a time: the first query of each waits for upstream to confirm
// the name, the controller's thread to allocate its VIP and build the view, and that view to be applied;
// then the same names again (answered from the table), and 1,024 names outside the wildcard (forwarded,
// the upstream round trip every first query also pays). Runs follow one another in one process, so each
// starts with the names of the runs before it held; RSS is read before and after each run's new names.
// Then the cluster variant once: `meshdns controller --manifests` and `meshdns agent --controller` as two
// processes, the agent asking for each new name over gRPC (meshdns.v1.PerNameVips) and answering once the
// ADS stream brought the name and its route.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import { queryA, type ServerAddress, waitUntilAnswering } from '../lib/dns-probe.js';
import { askUdp } from '../lib/good-queries.js';
import { freeDnsPort, freeTcpPort } from '../lib/ports.js';
import { rssMiB } from '../lib/proc-memory.js';
import { benchEnv, type ProcessGroup } from '../lib/processes.js';
import { formatRows } from '../lib/report.js';
import { REPO_ROOT, startMeshdns } from '../servers/meshdns.js';
import { START_DEADLINE_MS } from '../servers/server.js';
import { startSyntheticUpstream } from '../servers/synthetic-upstream.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './scenario.js';

const NAMES = 1024;

const MANIFEST = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild, namespace: default, labels: {meshdns.io/per-name-vips: "true"}}
spec:
  hosts: ["*.wild.test"]
  ports: [{number: 5432, name: pg, protocol: TCP}]
  resolution: DNS
`;

interface Latency {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers without the expected kind of address (a VIP under the wildcard, the upstream's outside). */
  wrong: number;
}

interface RunFigures {
  heldBefore: number;
  first: Latency;
  again: Latency;
  forwarded: Latency;
  rssBeforeMiB: number;
  rssAfterMiB: number;
}

interface WildcardResult extends ScenarioResult {
  runs: RunFigures[];
  /** One run through `meshdns controller` + `meshdns agent` (the agent's RSS). */
  cluster: RunFigures;
}

/** A name of the cluster variant's table: once the agent answers it, its first table is in. */
const READY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ready, namespace: default}
spec:
  hosts: ["ready.bench.test"]
  addresses: ["10.0.0.1"]
  ports: [{number: 80, name: http, protocol: TCP}]
  resolution: STATIC
`;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)] ?? Number.NaN;
}

/** `names` asked one after another over UDP; each answer timed and checked with `ok`. */
async function ask(dns: ServerAddress, names: string[], ok: (a: string) => boolean): Promise<Latency> {
  const latencies: number[] = [];
  let wrong = 0;
  for (const [i, name] of names.entries()) {
    const query = dnsPacket.encode({
      type: 'query',
      id: i & 0xffff,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name, type: 'A', class: 'IN' }],
    });
    const at = performance.now();
    const reply = await askUdp(dns, query, 5000);
    latencies.push(performance.now() - at);
    const answer =
      typeof reply === 'string'
        ? undefined
        : (dnsPacket.decode(reply).answers ?? []).find((a) => a.type === 'A');
    const address = answer && 'data' in answer ? answer.data : undefined;
    if (typeof address !== 'string' || !ok(address)) wrong++;
  }
  latencies.sort((a, b) => a - b);
  return {
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    wrong,
  };
}

/** 1,024 new names, the same again, and as many outside the wildcard, through `dns`; RSS of `pid`. */
async function measure(
  dns: ServerAddress,
  pid: number,
  tag: string,
  heldBefore: number,
): Promise<RunFigures> {
  const isVip = (a: string) => a.startsWith('240.240.');
  const names = Array.from({ length: NAMES }, (_, i) => `db${i}.${tag}.wild.test`);
  const rssBeforeMiB = rssMiB(pid);
  const first = await ask(dns, names, isVip);
  const rssAfterMiB = rssMiB(pid);
  const again = await ask(dns, names, isVip);
  const outside = names.map((x) => x.replace('.wild.test', '.out.test'));
  const forwarded = await ask(dns, outside, (a) => !isVip(a));
  return { heldBefore, first, again, forwarded, rssBeforeMiB, rssAfterMiB };
}

/** The cluster variant: a controller and an agent, the agent warmed up like serve, then one run. */
async function runCluster(
  ctx: ScenarioContext,
  group: ProcessGroup,
  upstream: ServerAddress,
): Promise<RunFigures> {
  const dir = path.join(ctx.workDir, 'cluster-manifests');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'wild.yaml'), MANIFEST);
  await writeFile(path.join(dir, 'ready.yaml'), READY);
  const bin = path.join(REPO_ROOT, 'bin', 'meshdns');
  const xds = { host: '127.0.15.20', port: await freeTcpPort('127.0.15.20') };
  const limits = ['--wildcard-vip-rate', '100000', '--wildcard-vip-cap', String(NAMES * 8)];
  const controller = group.spawn(
    'meshdns controller',
    process.execPath,
    [
      ...[bin, 'controller', '--manifests', dir, '--xds-listen', `${xds.host}:${xds.port}`],
      ...['--state-file', path.join(ctx.workDir, 'cluster-state.json'), '--admin-listen', '127.0.0.1:0'],
      ...['--log-level', 'warn', ...limits],
    ],
    { cwd: REPO_ROOT, ...(ctx.config.clientCpu === undefined ? {} : { cpu: ctx.config.clientCpu }) },
  );
  const listen = { host: '127.0.15.11', port: await freeDnsPort('127.0.15.11') };
  const agent = group.spawn(
    'meshdns agent',
    process.execPath,
    [
      ...[bin, 'agent', '--controller', `${xds.host}:${xds.port}`],
      ...['--dns-listen', `${listen.host}:${listen.port}`, '--upstream', `${upstream.host}:${upstream.port}`],
      ...['--no-cache', '--admin-listen', '127.0.0.1:0', '--log-level', 'warn'],
    ],
    {
      cwd: REPO_ROOT,
      env: {
        ...benchEnv(),
        POD_NAME: 'bench',
        POD_NAMESPACE: 'default',
        ISTIO_META_DNS_CAPTURE: 'true',
        ISTIO_META_DNS_AUTO_ALLOCATE: 'true',
      },
      ...(ctx.config.serverCpu === undefined ? {} : { cpu: ctx.config.serverCpu }),
    },
  );
  await waitUntilAnswering(listen, 'ready.bench.test', agent, START_DEADLINE_MS);
  // The agent forwards until its first table is in (the upstream answers any name): wait for the table's answer.
  for (let tries = 0; ; tries++) {
    const answer = await queryA(listen, 'ready.bench.test', 250).catch(() => undefined);
    if (answer?.addresses.includes('10.0.0.1')) break;
    if (tries * 50 > START_DEADLINE_MS || !controller.running)
      throw new Error(`no table from meshdns controller:\n${controller.stdout}${controller.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const isVip = (a: string) => a.startsWith('240.240.');
  await ask(
    listen,
    Array.from({ length: 64 }, (_, i) => `warm${i}.wild.test`),
    isVip,
  );
  const figures = await measure(listen, agent.child.pid!, 'cluster', 64);
  ctx.log(
    `wildcard: cluster: first query p50 ${figures.first.p50Ms.toFixed(2)} ms p99 ${figures.first.p99Ms.toFixed(2)} ms`,
  );
  return figures;
}

async function run(ctx: ScenarioContext): Promise<WildcardResult> {
  const { config, group, log } = ctx;
  const upstream = { host: '127.0.15.1', port: await freeDnsPort('127.0.15.1') };
  await startSyntheticUpstream(group, { listen: upstream, delayMs: 0, ttl: 60, cpu: config.clientCpu });
  const manifestsDir = path.join(ctx.workDir, 'manifests');
  await mkdir(manifestsDir, { recursive: true });
  await writeFile(path.join(manifestsDir, 'wild.yaml'), MANIFEST);
  const listen = { host: '127.0.15.10', port: await freeDnsPort('127.0.15.10') };
  const server = await startMeshdns(group, {
    manifestsDir,
    listen,
    upstreams: [upstream],
    searchDomains: [],
    probeName: 'probe.upstream.test',
    cpu: config.serverCpu,
    // Every name once per phase: no cache, so the forwarded names pay the upstream each time.
    extraArgs: ['--no-cache', '--wildcard-vip-rate', '100000', '--wildcard-vip-cap', String(NAMES * 8)],
  });
  const pid = server.proc.child.pid!;
  const isVip = (a: string) => a.startsWith('240.240.');
  // Warm-up: the JIT on every path, with names of its own (held by the first run too).
  await ask(
    listen,
    Array.from({ length: 64 }, (_, i) => `warm${i}.wild.test`),
    isVip,
  );
  await ask(
    listen,
    Array.from({ length: 64 }, (_, i) => `warm${i}.out.test`),
    (a) => !isVip(a),
  );
  const runs: RunFigures[] = [];
  for (let n = 0; n < config.runs; n++) {
    const figures = await measure(listen, pid, `r${n}`, 64 + n * NAMES);
    const { first, rssBeforeMiB, rssAfterMiB } = figures;
    runs.push(figures);
    log(
      `wildcard: run ${n + 1}/${config.runs}: first query p50 ${first.p50Ms.toFixed(2)} ms p99 ${first.p99Ms.toFixed(2)} ms, ` +
        `RSS ${rssBeforeMiB.toFixed(1)} -> ${rssAfterMiB.toFixed(1)} MiB`,
    );
  }
  // The serve process is done: the cluster variant has the cores to itself.
  await server.proc.stop();
  const cluster = await runCluster(ctx, group, upstream);
  const warnings = [...runs, cluster].flatMap((r, i) =>
    (['first', 'again', 'forwarded'] as const)
      .filter((k) => r[k].wrong > 0)
      .map(
        (k) =>
          `${i === runs.length ? 'cluster' : `run ${i + 1}`}: ${r[k].wrong} ${k} answers without the expected address`,
      ),
  );
  return {
    scenario: wildcardScenario.name,
    description: wildcardScenario.description,
    setup: {
      names: NAMES,
      runs: config.runs,
      upstream:
        'synthetic (bench/servers/synthetic-upstream.ts), no delay; meshdns --no-cache, no --vip-proxy',
      pinning: config.serverCpu === undefined ? 'none' : 'meshdns on CPU 0, client and upstream on CPU 1',
    },
    runs,
    cluster,
    warnings,
  };
}

function format(result: WildcardResult): string {
  const ms = (l: Latency) => [
    `${l.p50Ms.toFixed(2)} ms`,
    `${l.p99Ms.toFixed(2)} ms`,
    `${l.maxMs.toFixed(1)} ms`,
  ];
  /** One run's three lines: a new name, the same name again, a name outside the wildcard. */
  const runRows = (label: string, r: (typeof result.runs)[number]) => [
    [
      label,
      String(r.heldBefore),
      'new name (first query)',
      ...ms(r.first),
      (r.rssAfterMiB - r.rssBeforeMiB).toFixed(1),
    ],
    ['', '', 'same name again (table)', ...ms(r.again), ''],
    ['', '', 'outside the wildcard (fwd)', ...ms(r.forwarded), ''],
  ];
  const rows = [
    ['run', 'names held', 'query', 'p50', 'p99', 'max', 'RSS +MiB per 1,024 names'],
    ...result.runs.flatMap((r, i) => runRows(String(i + 1), r)),
    ...runRows('cluster', result.cluster),
  ];
  return [
    `${result.scenario}: ${result.description}`,
    `  ${NAMES} new names per run, one query at a time; runs follow one another in one meshdns serve;`,
    '  "cluster": meshdns controller --manifests + meshdns agent (asks over gRPC, view over ADS; agent RSS)',
    ...formatRows(rows).map((l) => `  ${l}`),
    ...result.warnings.map((w) => `  warning: ${w}`),
  ].join('\n');
}

export const wildcardScenario: Scenario<WildcardResult> = {
  name: 'wildcard',
  description:
    'per-name VIPs under one wildcard: first query of a new name vs table vs forwarded (issue 14 item 5)',
  tools: [],
  run,
  format,
};
