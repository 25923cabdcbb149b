// Running an iperf3 client and reading its JSON report: one TCP stream for a fixed time.
import type { ServerAddress } from './dns-probe.js';
import type { ProcessGroup } from './processes.js';

export interface Iperf3Options {
  bin: string;
  server: ServerAddress;
  seconds: number;
  /** -R: the server sends, the client receives. */
  reverse: boolean;
  cpu?: number;
}

export interface Iperf3Result {
  /** What the receiving end counted, in bits per second. */
  bitsPerSecond: number;
  seconds: number;
  retransmits: number;
}

/** iperf3 -s runs one test at a time; right after the previous one it may still be tidying up. */
const BUSY_RETRIES = 5;
const BUSY_WAIT_MS = 300;
const CONNECT_TIMEOUT_MS = 2000;

export function iperf3Args(opts: Omit<Iperf3Options, 'bin' | 'cpu'>): string[] {
  return [
    ['-c', opts.server.host],
    ['-p', String(opts.server.port)],
    ['-t', String(opts.seconds)],
    ['--connect-timeout', String(CONNECT_TIMEOUT_MS)],
    ['-J'],
    opts.reverse ? ['-R'] : [],
  ].flat();
}

interface Iperf3Json {
  error?: string;
  end?: {
    sum_sent?: { retransmits?: number };
    sum_received?: { bits_per_second: number; seconds: number };
  };
}

export function parseIperf3(text: string): Iperf3Result {
  const json = JSON.parse(text) as Iperf3Json;
  if (json.error) throw new Error(`iperf3: ${json.error}`);
  const received = json.end?.sum_received;
  if (!received) throw new Error(`iperf3 report has no end.sum_received:\n${text.slice(0, 2000)}`);
  return {
    bitsPerSecond: received.bits_per_second,
    seconds: received.seconds,
    retransmits: json.end?.sum_sent?.retransmits ?? 0,
  };
}

export async function runIperf3(group: ProcessGroup, opts: Iperf3Options): Promise<Iperf3Result> {
  for (let attempt = 1; ; attempt++) {
    const proc = group.spawn('iperf3', opts.bin, iperf3Args(opts), { cpu: opts.cpu });
    const code = await proc.exited;
    if (code === 0) return parseIperf3(proc.stdout);
    if (attempt < BUSY_RETRIES && /server is busy/.test(proc.stdout)) {
      await new Promise((resolve) => setTimeout(resolve, BUSY_WAIT_MS));
      continue;
    }
    throw new Error(`iperf3 exited with code ${code}:\n${proc.stderr}\n${proc.stdout.slice(0, 2000)}`);
  }
}
