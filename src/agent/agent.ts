// The data plane of one workload: DNS server, request pipeline and upstream forwarder. It answers
// from whatever table it was last given (`setTable`); in `serve` the controller runs in-process,
// later an xDS stream delivers tables the same way.
import type { Logger } from 'pino';
import type { NameTable } from '../nametable/index.js';
import { DnsServer, ForwardStage, Pipeline, TableStage, type TcpLimits } from '../server/index.js';
import { Forwarder, type UpstreamServer } from '../upstream/index.js';

export interface AgentOptions {
  listen: { host: string; port: number };
  /** Also answer on [::1] at the same port (SPEC §4: when upstreams include IPv6); best effort. */
  listenLoopbackV6?: boolean;
  upstreams: UpstreamServer[];
  upstreamTimeoutMs: number;
  upstreamAttempts?: number;
  upstreamPerTryTimeoutMs?: number;
  /** SPEC §4.2: answer SERVFAIL instead of forwarding until the first table arrives. */
  servfailBeforeTable?: boolean;
  tcp?: Partial<TcpLimits>;
  logger: Logger;
}

export class Agent {
  private readonly forwarder: Forwarder;
  private readonly tableStage: TableStage;
  private readonly server: DnsServer;
  private readonly pipeline: Pipeline;
  private v6Server: DnsServer | undefined;
  private readonly opts: AgentOptions;
  private readonly logger: Logger;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.logger = opts.logger;
    this.forwarder = new Forwarder({
      servers: opts.upstreams,
      timeoutMs: opts.upstreamTimeoutMs,
      attempts: opts.upstreamAttempts,
      perTryTimeoutMs: opts.upstreamPerTryTimeoutMs,
    });
    this.tableStage = new TableStage({
      upstream: this.forwarder,
      servfailBeforeTable: opts.servfailBeforeTable,
    });
    this.pipeline = new Pipeline([this.tableStage, new ForwardStage(this.forwarder)]);
    this.server = new DnsServer({ ...opts.listen, pipeline: this.pipeline, tcp: opts.tcp });
  }

  get port(): number {
    return this.server.port;
  }

  setTable(table: NameTable): void {
    this.tableStage.set(table);
  }

  table(): NameTable | undefined {
    return this.tableStage.current();
  }

  async start(): Promise<void> {
    await this.server.start();
    if (this.opts.listenLoopbackV6 && this.opts.listen.host !== '::1') {
      const v6 = new DnsServer({
        host: '::1',
        port: this.server.port,
        pipeline: this.pipeline,
        tcp: this.opts.tcp,
      });
      try {
        await v6.start();
        this.v6Server = v6;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'not answering on [::1]');
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.server.close(), this.v6Server?.close()]);
    await this.forwarder.close();
    this.logger.debug('agent closed');
  }
}
