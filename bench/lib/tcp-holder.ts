// A client that opens many TCP connections to a DNS server and holds them: the TCP flood's attacker.
// A process of its own (its fd limit raised by the shell that starts it, see startTcpHolder), so the
// measuring client's event loop and fd table are not the ones filled. Prints a JSON line a second.
//   node dist/bench/lib/tcp-holder.js HOST PORT CONNECTIONS SECONDS KEEPALIVE_MS QUERY_HEX
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { BenchProcess, ProcessGroup } from './processes.js';

const SCRIPT = fileURLToPath(import.meta.url);
/** Connects in progress at once: fast enough to open 10,000 in seconds, few enough not to overflow the backlog. */
const CONNECTING_AT_ONCE = 200;

export interface HolderReport {
  /** Seconds since the holder started. */
  t: number;
  /** Connections established so far, and how many of them are open now. */
  opened: number;
  open: number;
  /** Connects that failed (refused, reset before established, out of fds). */
  failed: number;
  /** Established connections the server closed. */
  closedByServer: number;
  /** Keep-alive answers received. */
  answers: number;
  /** The holder's own RLIMIT_NOFILE (soft), as /proc/self/limits says. */
  nofile: number;
  done: boolean;
}

function nofileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3]);
}

function hold(
  host: string,
  port: number,
  count: number,
  seconds: number,
  keepaliveMs: number,
  query: Buffer,
) {
  const started = performance.now();
  const sockets = new Set<net.Socket>();
  const s = { opened: 0, failed: 0, closedByServer: 0, answers: 0 };
  let closing = false;
  let attempted = 0;
  const frame = Buffer.concat([Buffer.from([query.length >> 8, query.length & 0xff]), query]);
  const report = (done: boolean) => {
    const r: HolderReport = {
      t: (performance.now() - started) / 1000,
      ...s,
      open: sockets.size,
      nofile: nofileLimit(),
      done,
    };
    process.stdout.write(`${JSON.stringify(r)}\n`);
  };
  const openOne = () => {
    if (closing || attempted >= count) return;
    attempted++;
    const socket = net.connect({ host, port });
    let established = false;
    let keepalive: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      established = true;
      s.opened++;
      sockets.add(socket);
      openOne();
      // Each connection asks now and then (spread over the interval), below the server's idle timeout:
      // the held connections look alive, so only the connection cap can make room.
      if (keepaliveMs > 0) {
        keepalive = setTimeout(function ask() {
          socket.write(frame);
          keepalive = setTimeout(ask, keepaliveMs);
        }, Math.random() * keepaliveMs);
      }
    });
    socket.on('data', () => {
      s.answers++;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(keepalive);
      if (!established) {
        s.failed++;
        openOne();
      } else {
        sockets.delete(socket);
        if (!closing) s.closedByServer++;
      }
    });
  };
  for (let i = 0; i < CONNECTING_AT_ONCE; i++) openOne();
  const ticker = setInterval(() => report(false), 1000);
  setTimeout(() => {
    closing = true;
    clearInterval(ticker);
    report(true);
    for (const socket of sockets) socket.destroy();
    setTimeout(() => process.exit(0), 100);
  }, seconds * 1000);
}

export interface HolderOptions {
  host: string;
  port: number;
  connections: number;
  seconds: number;
  keepaliveMs: number;
  query: Buffer;
  /** RLIMIT_NOFILE the shell sets before exec'ing the holder. */
  nofile: number;
  cpu?: number;
}

/** Starts the holder under `sh -c 'ulimit -n N; exec node …'`: the limit is the holder's alone. */
export function startTcpHolder(group: ProcessGroup, opts: HolderOptions): BenchProcess {
  const argv = [SCRIPT, opts.host, opts.port, opts.connections, opts.seconds, opts.keepaliveMs];
  const cmd = `ulimit -n ${opts.nofile} && exec "$0" "$@"`;
  return group.spawn(
    'tcp-holder',
    'sh',
    ['-c', cmd, process.execPath, ...argv.map(String), opts.query.toString('hex')],
    { cpu: opts.cpu },
  );
}

/** The holder's JSON lines so far (its stdout tail). */
export function holderReports(proc: BenchProcess): HolderReport[] {
  return proc.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as HolderReport];
      } catch {
        return [];
      }
    });
}

if (process.argv[1] === SCRIPT) {
  const [host, port, count, seconds, keepaliveMs, hex] = process.argv.slice(2);
  hold(host, Number(port), Number(count), Number(seconds), Number(keepaliveMs), Buffer.from(hex, 'hex'));
}
