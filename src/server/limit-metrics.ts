// Metrics of the server's bounds (SPEC §10: reaching a bound is counted), read at scrape time.
import { counterFrom, gaugeFrom, type Registry } from '../metrics.js';
import { LIMIT_NAMES, type ServerLimits } from './limits.js';

export function limitMetrics(registry: Registry, limits: ServerLimits): void {
  counterFrom(
    registry,
    'meshdns_limit_reached_total',
    'Bounds reached (SPEC §10): tcp_connections (idlest closed), tcp_in_flight and tcp_queued_bytes ' +
      '(reading paused), tcp_stalled (closed: answers left unread), allow_from (REFUSED), ' +
      'udp_send_queue (a UDP reply dropped: the socket buffer full), wildcard_vips and wildcard_vip_rate (a name under a per-name wildcard answered without a VIP of its own: the cap, the rate).',
    () => {
      const { reached } = limits.stats();
      return LIMIT_NAMES.map((limit) => [{ limit }, reached[limit]]);
    },
    ['limit'],
  );
  gaugeFrom(
    registry,
    'meshdns_tcp_connections',
    'Open DNS TCP connections.',
    () => limits.stats().tcp.connections,
  );
  gaugeFrom(
    registry,
    'meshdns_tcp_paused_connections',
    'DNS TCP connections not read from until their answers go out.',
    () => limits.stats().tcp.paused,
  );
  gaugeFrom(
    registry,
    'meshdns_tcp_queued_bytes',
    'Bytes of DNS answers written to TCP clients and not yet sent.',
    () => limits.stats().tcp.queuedBytes,
  );
}
