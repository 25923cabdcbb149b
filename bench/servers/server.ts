// A DNS server under test: where it listens and the process behind it.
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

/** Time a server gets from spawn to its first answer. */
export const START_DEADLINE_MS = 20_000;
