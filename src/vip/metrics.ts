// VIP proxy figures (SPEC §8 "VIP connections"), per ServiceEntry host and port, read at scrape time.
import { counterFrom, gaugeFrom, type Registry, type Sample } from '../metrics.js';
import type { VipServed } from './dataplane.js';
import type { VipStats } from './proxy.js';

export function vipMetrics(registry: Registry, stats: () => VipStats[]): void {
  const per = (pick: (s: VipStats) => number) => (): Sample[] =>
    stats().map((s) => [{ host: s.host, vip: s.vip, port: String(s.port) }, pick(s)]);
  const labels = ['host', 'vip', 'port'];
  gaugeFrom(
    registry,
    'meshdns_vip_connections_active',
    'Open connections through each VIP:port.',
    per((s) => s.active),
    labels,
  );
  counterFrom(
    registry,
    'meshdns_vip_connections_total',
    'Connections accepted on each VIP:port.',
    per((s) => s.total),
    labels,
  );
  counterFrom(
    registry,
    'meshdns_vip_connect_errors_total',
    'Connections closed because no backend of the VIP:port could be reached.',
    per((s) => s.connectErrors),
    labels,
  );
  counterFrom(
    registry,
    'meshdns_vip_bytes_total',
    'Bytes spliced through each VIP:port, by direction.',
    () =>
      stats().flatMap((s): Sample[] => [
        [{ host: s.host, vip: s.vip, port: String(s.port), direction: 'to_backend' }, s.bytesToBackend],
        [{ host: s.host, vip: s.vip, port: String(s.port), direction: 'to_client' }, s.bytesToClient],
      ]),
    [...labels, 'direction'],
  );
}

/** Which data plane serves each VIP:port, and the NAT data plane's open connections from conntrack. */
export function vipDataplaneMetrics(registry: Registry, served: () => VipServed[]): void {
  const labels = ['host', 'vip', 'port'];
  gaugeFrom(
    registry,
    'meshdns_vip_dataplane',
    'Each routed VIP:port, 1 under the data plane that serves it (proxy: user space; nat: kernel DNAT).',
    () =>
      served().map(
        (s): Sample => [{ host: s.host, vip: s.vip, port: String(s.port), dataplane: s.dataplane }, 1],
      ),
    [...labels, 'dataplane'],
  );
  gaugeFrom(
    registry,
    'meshdns_vip_nat_connections_active',
    'Open connections DNATed for each VIP:port (nat data plane), from conntrack; absent where it cannot be read.',
    () =>
      served().flatMap((s): Sample[] =>
        s.conntrack && 'active' in s.conntrack
          ? [[{ host: s.host, vip: s.vip, port: String(s.port) }, s.conntrack.active]]
          : [],
      ),
    labels,
  );
}
