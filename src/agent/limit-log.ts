// One log line per burst for each bound the DNS server reaches (SPEC §10), naming the flag that sets it.
import type { Logger } from 'pino';
import type { LimitName, LimitObserver } from '../server/index.js';
import { BurstLog } from './burst-log.js';

const MESSAGES: Record<LimitName, string> = {
  tcp_connections:
    'TCP connections at --tcp-max-connections: closed the idlest to make room for a new client',
  tcp_in_flight:
    'a TCP client has --tcp-max-in-flight queries in flight: not reading from it until answers go out',
  tcp_queued_bytes:
    'a TCP client leaves its answers unread: not reading from it past --tcp-max-queued-bytes until they are sent',
  tcp_stalled: 'closed a TCP client that left its answers unread for --tcp-idle-timeout',
  allow_from: 'REFUSED queries from a client outside --allow-from',
};

export function limitLog(logger: Logger, now: () => number, intervalMs: number): LimitObserver {
  const logs = new Map<LimitName, (fields: Record<string, unknown>) => void>();
  for (const [limit, message] of Object.entries(MESSAGES) as [LimitName, string][]) {
    // The line carries the client of the event that was logged; the rest of the burst is counted.
    let last: Record<string, unknown> = {};
    const log = new BurstLog(logger, now, intervalMs, message, () => ({ limit, ...last }));
    logs.set(limit, (fields) => {
      last = fields;
      log.hit();
    });
  }
  return (limit, fields) => logs.get(limit)?.(fields);
}
