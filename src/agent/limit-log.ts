// One log line per burst for each bound the DNS server reaches (SPEC §10), naming the flag that sets it.
import type { Logger } from 'pino';
import type { LimitName, LimitObserver } from '../server/index.js';
import { burstLogs } from './burst-log.js';

const MESSAGES: Record<LimitName, string> = {
  tcp_connections:
    'TCP connections at --tcp-max-connections: closed the idlest to make room for a new client',
  tcp_in_flight:
    'a TCP client has --tcp-max-in-flight queries in flight: not reading from it until answers go out',
  tcp_queued_bytes:
    'a TCP client leaves its answers unread: not reading from it past --tcp-max-queued-bytes until they are sent',
  tcp_stalled: 'closed a TCP client that left its answers unread for --tcp-idle-timeout',
  allow_from: 'REFUSED queries from a client outside --allow-from',
  udp_send_queue:
    'UDP replies dropped: the socket buffer stayed full (raise --udp-send-buffer, or the clients are flooding)',
  wildcard_vips:
    'a per-name wildcard holds --wildcard-vip-cap names: a new name is answered without a VIP of its own (raise the cap, or shorten --wildcard-vip-idle)',
  wildcard_vip_rate:
    'new names under a per-name wildcard came faster than --wildcard-vip-rate: answered without a VIP of their own until they are asked again',
};

export function limitLog(logger: Logger, now: () => number, intervalMs: number): LimitObserver {
  // The line carries the client of the event that was logged.
  const lines = (Object.entries(MESSAGES) as [LimitName, string][]).map(
    ([limit, message]) => [limit, { message, fields: { limit } }] as const,
  );
  return burstLogs(logger, now, intervalMs, lines);
}
