// The bounds a client can reach (SPEC §10), counted where they are enforced and reported to one
// observer, which logs once per burst. One instance is shared by the listeners of an agent.

/**
 * - `tcp_connections`: a new client found the cap; the idlest connection was closed for it.
 * - `tcp_in_flight`: a connection has its most queries in flight; reading from it paused.
 * - `tcp_queued_bytes`: a connection's unsent answers reached the bound; reading from it paused.
 * - `tcp_stalled`: a connection paused on unsent answers for the idle timeout; closed.
 * - `allow_from`: a query from a client outside the allow list, answered REFUSED.
 * - `udp_send_queue`: the native UDP path's replies waiting on a full socket buffer reached their bound;
 *   the reply was dropped (a client retries, as for any UDP loss).
 * - `wildcard_vips`: a per-name wildcard holds `--wildcard-vip-cap` names; a new one got no VIP of its own.
 * - `wildcard_vip_rate`: an entry's new names came faster than `--wildcard-vip-rate`; this one got none (yet).
 */
export type LimitName =
  | 'tcp_connections'
  | 'tcp_in_flight'
  | 'tcp_queued_bytes'
  | 'tcp_stalled'
  | 'allow_from'
  | 'udp_send_queue'
  | 'wildcard_vips'
  | 'wildcard_vip_rate';

export const LIMIT_NAMES: readonly LimitName[] = [
  'tcp_connections',
  'tcp_in_flight',
  'tcp_queued_bytes',
  'tcp_stalled',
  'allow_from',
  'udp_send_queue',
  'wildcard_vips',
  'wildcard_vip_rate',
];

/** Told of every bound reached, with what identifies the client (for a log line). */
export type LimitObserver = (limit: LimitName, fields: Record<string, unknown>) => void;

/** A TCP listener's live figures. */
export interface TcpGauges {
  connections: number;
  /** Connections not read from until their answers go out (in flight or queued bytes). */
  paused: number;
  /** Bytes of answers written but not yet taken by the kernel, over all connections. */
  queuedBytes: number;
}

export interface LimitStats {
  reached: Record<LimitName, number>;
  tcp: TcpGauges;
}

export class ServerLimits {
  private readonly counts = new Map<LimitName, number>(LIMIT_NAMES.map((n) => [n, 0]));
  private readonly listeners = new Set<() => TcpGauges>();
  private readonly observer: LimitObserver | undefined;
  /** Bounds reached on other threads (answering workers, `--workers`), added by `stats()`. */
  private more: () => readonly Record<LimitName, number>[] = () => [];

  constructor(observer?: LimitObserver) {
    this.observer = observer;
  }

  reached(limit: LimitName, fields: Record<string, unknown>): void {
    this.counts.set(limit, (this.counts.get(limit) ?? 0) + 1);
    this.observer?.(limit, fields);
  }

  /** From now on, `stats()` adds the counts `more()` returns (the answering workers' last ones). */
  include(more: () => readonly Record<LimitName, number>[]): void {
    this.more = more;
  }

  /** A listener's gauges join the sums until the returned function is called. */
  track(gauges: () => TcpGauges): () => void {
    this.listeners.add(gauges);
    return () => this.listeners.delete(gauges);
  }

  stats(): LimitStats {
    const tcp: TcpGauges = { connections: 0, paused: 0, queuedBytes: 0 };
    for (const read of this.listeners) {
      const g = read();
      tcp.connections += g.connections;
      tcp.paused += g.paused;
      tcp.queuedBytes += g.queuedBytes;
    }
    const reached = Object.fromEntries(this.counts) as Record<LimitName, number>;
    for (const m of this.more()) for (const n of LIMIT_NAMES) reached[n] += m[n] ?? 0;
    return { reached, tcp };
  }
}
