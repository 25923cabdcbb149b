// Scenario "wildcard" (issue 14 item 5): per-name VIPs under one wildcard ServiceEntry. Per run, 1,024 new
// names under `*.wild.test` are asked one at a time: the first query of each waits for upstream to confirm
// the name, the controller's thread to allocate its VIP and build the view, and that view to be applied;
// then the same names again (answered from the table), and 1,024 names outside the wildcard (forwarded,
// the upstream round trip every first query also pays). Runs follow one another in one process, so each
// starts with the names of the runs before it held; RSS is read before and after each run's new names.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import dnsPacket from 'dns-packet';
import type { ServerAddress } from '../lib/dns-probe.js';
import { askUdp } from '../lib/good-queries.js';
import { freeDnsPort } from '../lib/ports.js';
import { rssMiB } from '../lib/proc-memory.js';
import { formatRows } from '../lib/report.js';
import { startMeshdns } from '../servers/meshdns.js';
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
}

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
    const names = Array.from({ length: NAMES }, (_, i) => `db${i}.r${n}.wild.test`);
    const rssBeforeMiB = rssMiB(pid);
    const first = await ask(listen, names, isVip);
    const rssAfterMiB = rssMiB(pid);
    const again = await ask(listen, names, isVip);
    const outside = names.map((x) => x.replace('.wild.test', '.out.test'));
    const forwarded = await ask(listen, outside, (a) => !isVip(a));
    runs.push({ heldBefore: 64 + n * NAMES, first, again, forwarded, rssBeforeMiB, rssAfterMiB });
    log(
      `wildcard: run ${n + 1}/${config.runs}: first query p50 ${first.p50Ms.toFixed(2)} ms p99 ${first.p99Ms.toFixed(2)} ms, ` +
        `RSS ${rssBeforeMiB.toFixed(1)} -> ${rssAfterMiB.toFixed(1)} MiB`,
    );
  }
  const warnings = runs.flatMap((r, i) =>
    (['first', 'again', 'forwarded'] as const)
      .filter((k) => r[k].wrong > 0)
      .map((k) => `run ${i + 1}: ${r[k].wrong} ${k} answers without the expected address`),
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
    warnings,
  };
}

function format(result: WildcardResult): string {
  const ms = (l: Latency) => [
    `${l.p50Ms.toFixed(2)} ms`,
    `${l.p99Ms.toFixed(2)} ms`,
    `${l.maxMs.toFixed(1)} ms`,
  ];
  const rows = [
    ['run', 'names held', 'query', 'p50', 'p99', 'max', 'RSS +MiB per 1,024 names'],
    ...result.runs.flatMap((r, i) => [
      [
        String(i + 1),
        String(r.heldBefore),
        'new name (first query)',
        ...ms(r.first),
        (r.rssAfterMiB - r.rssBeforeMiB).toFixed(1),
      ],
      ['', '', 'same name again (table)', ...ms(r.again), ''],
      ['', '', 'outside the wildcard (fwd)', ...ms(r.forwarded), ''],
    ]),
  ];
  return [
    `${result.scenario}: ${result.description}`,
    `  ${NAMES} new names per run, one query at a time; runs follow one another in one meshdns`,
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
