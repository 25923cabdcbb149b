// Running wrk with `Connection: close` (every request on a connection of its own, so requests/s is
// connections/s) and reading its report.
import type { ServerAddress } from './dns-probe.js';
import type { ProcessGroup } from './processes.js';

export interface WrkOptions {
  bin: string;
  server: ServerAddress;
  seconds: number;
  /** -c: connections open at once (each one request, then closed and opened anew). */
  connections: number;
  cpu?: number;
}

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  seconds: number;
  /**
   * From the request written to the response read: wrk starts the clock after its own TCP
   * handshake, so a proxy's connect to the backend is inside, the client's handshake is not.
   */
  avgLatencyMs: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  /** connect + read + write + timeout errors. */
  socketErrors: number;
  /** Answers other than 2xx/3xx. */
  badStatus: number;
}

/** wrk's own request timeout: long enough never to fire on loopback unless something hangs. */
const TIMEOUT_S = 2;

export function wrkArgs(opts: Omit<WrkOptions, 'bin' | 'cpu'>): string[] {
  return [
    ['-t', '1'],
    ['-c', String(opts.connections)],
    ['-d', `${opts.seconds}s`],
    ['--timeout', `${TIMEOUT_S}s`],
    ['--latency'],
    ['-H', 'Connection: close'],
    [`http://${opts.server.host}:${opts.server.port}/`],
  ].flat();
}

const UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (!m) throw new Error(`wrk: cannot read the duration "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

function match(text: string, re: RegExp, what: string): RegExpExecArray {
  const m = re.exec(text);
  if (!m) throw new Error(`wrk output has no ${what}:\n${text}`);
  return m;
}

export function parseWrk(text: string): WrkResult {
  const total = match(text, /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),/m, '"N requests in T" line');
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requestsPerSecond: Number(match(text, /^Requests\/sec:\s+([\d.]+)/m, '"Requests/sec" line')[1]),
    requests: Number(total[1]),
    seconds: durationMs(`${total[2]}${total[3]}`) / 1e3,
    avgLatencyMs: durationMs(match(text, /^\s*Latency\s+(\S+)/m, 'latency line')[1]),
    p50LatencyMs: durationMs(match(text, /^\s*50%\s+(\S+)/m, '50% latency')[1]),
    p99LatencyMs: durationMs(match(text, /^\s*99%\s+(\S+)/m, '99% latency')[1]),
    socketErrors: errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    badStatus: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
  };
}

export async function runWrk(group: ProcessGroup, opts: WrkOptions): Promise<WrkResult> {
  const proc = group.spawn('wrk', opts.bin, wrkArgs(opts), { cpu: opts.cpu });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`wrk exited with code ${code}:\n${proc.stderr}\n${proc.stdout}`);
  return parseWrk(proc.stdout);
}
