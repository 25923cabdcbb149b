// The kernel's drop counters a flood can move (system-wide: other traffic on the machine counts too):
// UDP datagrams dropped because a socket's receive buffer was full (/proc/net/snmp Udp RcvbufErrors),
// and connections dropped because a listener's accept queue was full (/proc/net/netstat TcpExt
// ListenOverflows, ListenDrops): a dropped SYN is retried by the client after 1 s (RFC 6298's initial RTO).
import { readFileSync } from 'node:fs';

export interface NetCounters {
  udpRcvbufErrors: number;
  listenOverflows: number;
  listenDrops: number;
}

/** "Prefix: name name …" followed by "Prefix: value value …" lines, as /proc/net/snmp and netstat print them. */
function table(file: string, prefix: string): Map<string, number> {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${prefix}:`));
  const names = (lines[0] ?? '').split(/\s+/).slice(1);
  const values = (lines[1] ?? '').split(/\s+/).slice(1).map(Number);
  return new Map(names.map((n, i) => [n, values[i]]));
}

export function readNetCounters(): NetCounters {
  const udp = table('/proc/net/snmp', 'Udp');
  const ext = table('/proc/net/netstat', 'TcpExt');
  return {
    udpRcvbufErrors: udp.get('RcvbufErrors') ?? Number.NaN,
    listenOverflows: ext.get('ListenOverflows') ?? Number.NaN,
    listenDrops: ext.get('ListenDrops') ?? Number.NaN,
  };
}

export function netCountersSince(before: NetCounters): NetCounters {
  const now = readNetCounters();
  return {
    udpRcvbufErrors: now.udpRcvbufErrors - before.udpRcvbufErrors,
    listenOverflows: now.listenOverflows - before.listenOverflows,
    listenDrops: now.listenDrops - before.listenDrops,
  };
}
