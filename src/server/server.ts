// A DNS server: UDP and TCP on one address and port (SPEC §4).
import { DEFAULTS } from '../defaults.js';
import { MeshdnsError } from '../errors.js';
import { type ClientAllowList, isLoopbackHost } from './client-access.js';
import { ServerLimits } from './limits.js';
import type { Pipeline } from './pipeline.js';
import { admitShare, writeClaim } from './port-claim.js';
import { type TcpLimits, TcpListener } from './tcp.js';
import { UdpListener, type UdpPath, type UdpSettings, type UdpStats, udpReusePort } from './udp.js';

export interface DnsServerOptions {
  host: string;
  /** 0 picks a free port (the same for UDP and TCP). */
  port: number;
  pipeline: Pipeline;
  tcp?: Partial<TcpLimits>;
  /** The UDP I/O path and socket buffers; defaults in DEFAULTS.udp*. */
  udp?: Partial<UdpSettings>;
  /**
   * The clients answered; the others get REFUSED (SPEC §10). Required for a non-loopback `host`: without
   * it `start()` refuses, since the server would answer and forward for anyone (an open resolver).
   */
  allowFrom?: ClientAllowList;
  /** Where bounds reached are counted and reported; shared by the listeners of one agent. */
  limits?: ServerLimits;
  /** UDP only (an answering worker, `--workers`: the agent's main thread keeps the one TCP listener). */
  udpOnly?: boolean;
  /**
   * Bind UDP and TCP with SO_REUSEPORT, so that a new process can bind the port while this one answers
   * (issue 14 item 3; see handOver). Not on port 0: a port the kernel picks is nobody's to share. The
   * key names what this server serves: a port already in use is bound only when a running process of
   * the same key claims it (its predecessor, handing over; port-claim.ts), else start() refuses it.
   */
  sharePort?: string;
}

export class DnsServer {
  private readonly opts: DnsServerOptions;
  private readonly udp: UdpListener;
  private readonly tcp: TcpListener | undefined;
  private boundPort = 0;
  private tcpNotShared: string | undefined;
  private unclaim: (() => Promise<void>) | undefined;
  private sharedWith: number | undefined;
  private claimFailed: string | undefined;
  readonly limits: ServerLimits;

  constructor(opts: DnsServerOptions) {
    this.opts = opts;
    this.limits = opts.limits ?? new ServerLimits();
    const shared = this.shareKey !== undefined;
    this.udp = new UdpListener(opts.pipeline, opts.allowFrom, this.limits, {
      ...opts.udp,
      ...(shared ? { reusePort: true } : {}),
    });
    const tcp: TcpLimits = {
      idleTimeoutMs: opts.tcp?.idleTimeoutMs ?? DEFAULTS.tcpIdleTimeoutMs,
      maxConnections: opts.tcp?.maxConnections ?? DEFAULTS.tcpMaxConnections,
      maxInFlightPerConnection: opts.tcp?.maxInFlightPerConnection ?? DEFAULTS.tcpMaxInFlightPerConnection,
      maxQueuedBytes: opts.tcp?.maxQueuedBytes ?? DEFAULTS.tcpMaxQueuedBytes,
    };
    if (opts.udpOnly !== true) this.tcp = new TcpListener(opts.pipeline, tcp, this.limits, opts.allowFrom);
  }

  get port(): number {
    return this.boundPort;
  }

  /** The UDP path answering (native batches or node:dgram), and why not native when `auto` fell back. */
  get udpPath(): UdpPath {
    return this.udp.path;
  }

  /** Datagrams and batches received over UDP (the metrics read it at scrape time). */
  udpStats(): UdpStats {
    return this.udp.stats();
  }

  async start(): Promise<void> {
    const { host, port } = this.opts;
    if (!isLoopbackHost(host) && this.opts.allowFrom === undefined) {
      throw new MeshdnsError(
        'MESHDNS_LISTEN',
        `will not listen on ${host}:${port} without an allow list: a non-loopback DNS listener would answer ` +
          'and forward for anyone who reaches it (an open resolver); pass --allow-from CIDR... naming the ' +
          'clients, or listen on 127.0.0.1',
      );
    }
    const key = this.shareKey;
    if (key !== undefined) this.sharedWith = await admitShare(host, port, key);
    await this.bind();
    if (key === undefined) return;
    try {
      this.unclaim = await writeClaim(host, this.boundPort, key);
    } catch (err) {
      // Another key bound the port at the same moment, with the earlier claim: this one backs out.
      if (err instanceof MeshdnsError) {
        await this.close();
        throw err;
      }
      // Answering goes on; only a successor cannot share the port.
      this.claimFailed = `its claim could not be written: ${(err as Error).message}`;
    }
  }

  /** The key to share the port under; undefined when it is not shared. */
  private get shareKey(): string | undefined {
    return this.opts.port === 0 ? undefined : this.opts.sharePort;
  }

  /** The pid of the process of the same key that held the port when this one bound it (a hand-over). */
  get predecessor(): number | undefined {
    return this.sharedWith;
  }

  private async bind(): Promise<void> {
    const { host, port } = this.opts;
    // With port 0 the UDP port is chosen first; TCP may find it taken, so try a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        this.boundPort = await this.udp.start(host, port);
      } catch (err) {
        throw listenError(host, port, 'udp', err);
      }
      if (this.tcp === undefined) return;
      try {
        const tcp = await this.tcp.start(host, this.boundPort, this.shareKey !== undefined);
        this.tcpNotShared = tcp.reason;
        return;
      } catch (err) {
        await this.udp.close();
        if (port !== 0 || attempt >= 5) throw listenError(host, this.boundPort, 'tcp', err);
      }
    }
  }

  /**
   * Why the port is not shared with a successor where `sharePort` asked for it (node:dgram or node:net
   * without reusePort on this Node); undefined when it is, or was not asked.
   */
  get notShared(): string | undefined {
    if (this.shareKey === undefined) return undefined;
    return udpReusePort(this.udp.path) ?? this.tcpNotShared ?? this.claimFailed;
  }

  /**
   * Stops taking queries, answers those taken (until `deadline`, Date.now() ms), then closes: with the
   * port shared, a successor bound to it answers every query from then on (udp.ts, tcp.ts handOver).
   */
  async handOver(deadline: number): Promise<void> {
    await Promise.all([this.udp.handOver(deadline), this.tcp?.handOver(deadline)]);
  }

  async close(): Promise<void> {
    await Promise.all([this.udp.close(), this.tcp?.close(), this.unclaim?.()]);
    this.unclaim = undefined;
  }
}

function listenError(host: string, port: number, proto: string, err: unknown): MeshdnsError {
  const reason = err instanceof Error ? err.message : String(err);
  return new MeshdnsError('MESHDNS_LISTEN', `cannot listen on ${host}:${port}/${proto}: ${reason}`, {
    cause: err,
  });
}
