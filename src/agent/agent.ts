// The data plane of one workload: DNS server, request pipeline and upstream forwarder. It answers
// from whatever table it was last given (`setTable`); in `serve` the controller runs in-process,
// later an xDS stream delivers tables the same way.
import type { Logger } from 'pino';
import type { NameTable } from '../nametable/index.js';
import { DnsServer, ForwardStage, Pipeline, TableStage, type TcpLimits } from '../server/index.js';
import { Forwarder, type UpstreamServer } from '../upstream/index.js';

export interface AgentOptions {
  listen: { host: string; port: number };
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
  private readonly logger: Logger;

  constructor(opts: AgentOptions) {
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
    const pipeline = new Pipeline([this.tableStage, new ForwardStage(this.forwarder)]);
    this.server = new DnsServer({ ...opts.listen, pipeline, tcp: opts.tcp });
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
  }

  async close(): Promise<void> {
    await this.server.close();
    await this.forwarder.close();
    this.logger.debug('agent closed');
  }
}
