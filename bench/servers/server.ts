// A server under test: where it listens and the process behind it.
import type { ServerAddress } from '../lib/dns-probe.js';
import type { BenchProcess } from '../lib/processes.js';

export interface DnsServer {
  /** Name in the result table, e.g. "meshdns", "dnsmasq". */
  label: string;
  address: ServerAddress;
  proc: BenchProcess;
  /** `--version` of the program, for the results file. */
  version: string;
}

/** A TCP server or proxy of the `vip` scenario (iperf3 -s, nginx, meshdns' VIP proxy, haproxy). */
export type TcpServer = DnsServer;

/** Time a server gets from spawn to its first answer. */
export const START_DEADLINE_MS = 20_000;

/** Connect and idle timeouts of both TCP proxies (VIP proxy runner, haproxy), so neither has an edge. */
export const PROXY_TIMEOUTS = { connectTimeoutMs: 5000, idleTimeoutMs: 60_000 } as const;
