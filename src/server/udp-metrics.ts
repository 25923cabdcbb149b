// UDP listener metrics, read at scrape time: what came in and in how many batches (issue 12).
import { counterFrom, type Registry } from '../metrics.js';
import type { UdpStats } from './udp.js';

/** Each counter: its name, its help, and the UdpStats field it reads. */
const COUNTERS: readonly [string, string, keyof UdpStats][] = [
  ['meshdns_udp_datagrams_total', 'DNS UDP datagrams received.', 'datagrams'],
  [
    'meshdns_udp_batches_total',
    'Batches the DNS UDP datagrams came in: one recvmmsg (--udp-io native) or one event-loop turn (dgram).',
    'batches',
  ],
  [
    'meshdns_udp_too_long_total',
    'DNS UDP datagrams dropped as longer than 4 KiB (--udp-io native; no DNS query is that long).',
    'tooLong',
  ],
  [
    'meshdns_udp_answered_in_place_total',
    'DNS UDP queries answered in C from a kept answer (--udp-io native), without JavaScript.',
    'inPlace',
  ],
  [
    'meshdns_udp_batches_in_c_total',
    'Batches of DNS UDP queries answered whole in C (--udp-io native), with no call into JavaScript.',
    'batchesInC',
  ],
  [
    'meshdns_udp_send_blocked_total',
    'Sends of DNS UDP answers that found the socket buffer full (--udp-io native): the rest waited for room.',
    'sendBlocked',
  ],
];

/** UDP datagrams and the batches they came in: datagrams/batches is the batch size the native path gets. */
export function udpMetrics(registry: Registry, stats: () => UdpStats): void {
  for (const [name, help, field] of COUNTERS) counterFrom(registry, name, help, () => stats()[field]);
}
