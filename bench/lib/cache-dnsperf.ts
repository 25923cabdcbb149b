// dnsperf runs for the cache scenarios: a timed run (-l) or one pass through the query file (-n 1),
// contenders alternated run by run, medians compared.
import type { CacheBenchConfig, Proc, Spawner } from './cache-harness.js';

export interface Address {
  host: string;
  port: number;
}

export interface PerfRun {
  qps: number;
  completed: number;
  lost: number;
  rcodes: Record<string, number>;
  avgLatencyMs: number;
  runSeconds: number;
}

export interface Contender {
  label: string;
  /** Starts the server (fresh state) and returns where it answers and its process. */
  start(): Promise<{ address: Address; proc: Proc }>;
}

export interface ContenderFigures {
  label: string;
  runs: PerfRun[];
  medianQps: number;
  /** Best run over worst run − 1. */
  spread: number;
}

export interface PerfComparison {
  contenders: ContenderFigures[];
  ratios: { label: string; value: number }[];
  warnings: string[];
}

const num = (text: string, label: string): number => {
  const m = new RegExp(`^\\s*${label}:\\s+([\\d.]+)`, 'm').exec(text);
  if (!m) throw new Error(`dnsperf output has no "${label}":\n${text}`);
  return Number(m[1]);
};

export function parsePerf(text: string): PerfRun {
  const rcodes: Record<string, number> = {};
  const codes = /^\s*Response codes:\s+(.*)$/m.exec(text)?.[1] ?? '';
  for (const m of codes.matchAll(/([A-Z0-9]+) (\d+) \(/g)) rcodes[m[1]] = Number(m[2]);
  const latency = /^\s*Average Latency \(s\):\s+([\d.]+)/m.exec(text);
  return {
    qps: num(text, 'Queries per second'),
    completed: num(text, 'Queries completed'),
    lost: num(text, 'Queries lost'),
    rcodes,
    avgLatencyMs: latency ? Number(latency[1]) * 1000 : Number.NaN,
    runSeconds: num(text, 'Run time \\(s\\)'),
  };
}

export interface PerfOptions {
  server: Address;
  queryFile: string;
  /** Either a time limit… */
  seconds?: number;
  /** …or one pass through the file (each query sent once, in order). */
  onePass?: boolean;
}

export async function runPerf(group: Spawner, config: CacheBenchConfig, o: PerfOptions): Promise<PerfRun> {
  const args = [
    ['-s', o.server.host, '-p', String(o.server.port), '-d', o.queryFile, '-t', '2'],
    o.onePass ? ['-n', '1'] : ['-l', String(o.seconds ?? config.seconds)],
    ['-c', String(config.clients), '-T', String(config.threads), '-q', String(config.outstanding)],
  ].flat();
  const proc = group.spawn('dnsperf', 'dnsperf', args, { cpu: config.clientCpu });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`dnsperf exited with ${code}:\n${proc.stderr}\n${proc.stdout}`);
  return parsePerf(proc.stdout);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export interface CompareOptions {
  contenders: Contender[];
  config: CacheBenchConfig;
  group: Spawner;
  /** Runs once against a freshly started server, before the measured run (e.g. JIT warm-up). */
  warmUp?: (address: Address) => Promise<void>;
  measure: (address: Address) => Promise<PerfRun>;
  /** Start every contender afresh for each run (cold caches) instead of once. */
  freshEachRun: boolean;
  ratios: [subject: string, baseline: string][];
  log: (line: string) => void;
}

export async function compareAlternating(o: CompareOptions): Promise<PerfComparison> {
  const runs = new Map<string, PerfRun[]>(o.contenders.map((c) => [c.label, []]));
  const warnings: string[] = [];
  const running = new Map<string, { address: Address; proc: Proc }>();
  const ready = async (c: Contender) => {
    let s = running.get(c.label);
    if (s === undefined || o.freshEachRun) {
      await s?.proc.stop();
      s = await c.start();
      running.set(c.label, s);
      await o.warmUp?.(s.address);
    }
    return s;
  };
  try {
    for (let i = 1; i <= o.config.runs; i++) {
      for (const c of o.contenders) {
        const s = await ready(c);
        const r = await o.measure(s.address);
        if (!s.proc.running) throw new Error(`${c.label} stopped:\n${s.proc.stderr}`);
        runs.get(c.label)!.push(r);
        o.log(
          `  run ${i}/${o.config.runs} ${c.label}: ${Math.round(r.qps)} qps, avg ${r.avgLatencyMs.toFixed(3)} ms`,
        );
        if (r.lost > Math.max(10, r.completed * 0.001)) warnings.push(`${c.label} run ${i}: ${r.lost} lost`);
        const other = Object.entries(r.rcodes).filter(([k, n]) => k !== 'NOERROR' && n > 0);
        if (other.length)
          warnings.push(`${c.label} run ${i}: ${other.map(([k, n]) => `${k} ${n}`).join(', ')}`);
      }
    }
  } finally {
    await Promise.all([...running.values()].map((s) => s.proc.stop()));
  }
  const contenders = o.contenders.map((c): ContenderFigures => {
    const list = runs.get(c.label)!;
    const qps = list.map((r) => r.qps);
    return {
      label: c.label,
      runs: list,
      medianQps: median(qps),
      spread: Math.max(...qps) / Math.min(...qps) - 1,
    };
  });
  for (const c of contenders) {
    if (c.spread > 0.15)
      warnings.push(`${c.label}: runs differ by ${Math.round(c.spread * 100)}%; trust the ratio less`);
  }
  const by = new Map(contenders.map((c) => [c.label, c]));
  const ratios = o.ratios.map(([a, b]) => ({
    label: `${a} / ${b}`,
    value: by.get(a)!.medianQps / by.get(b)!.medianQps,
  }));
  return { contenders, ratios, warnings };
}
