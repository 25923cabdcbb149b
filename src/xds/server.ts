// The controller's side of the protocol: a gRPC server offering Envoy's StreamAggregatedResources.
import { hostname } from 'node:os';
import {
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DEFAULTS } from '../defaults.js';
import { MeshdnsError } from '../errors.js';
import { DELTA_METHOD, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse } from './delta-messages.js';
import { ADS_METHOD, type DiscoveryRequest, type DiscoveryResponse } from './messages.js';
import {
  PER_NAME_ASK_METHOD,
  PER_NAME_TOUCH_METHOD,
  type PerNameService,
  type XdsPerNameAsk,
  type XdsPerNameReply,
  type XdsPerNameTouch,
} from './per-name.js';
import type { XdsSubscription } from './publisher.js';
import { SendBudget, type SendBudgetOptions } from './send-budget.js';
import { DeltaStream } from './server-delta-stream.js';
import { AdsStream, type AdsStreamInfo } from './server-stream.js';
import type { AdsStreamBase, AdsStreamHooks } from './stream-base.js';
import { listenAddress } from './target.js';
import type { XdsNode } from './types.js';

export interface XdsTls {
  cert: Buffer;
  key: Buffer;
  /** Given: clients must present a certificate signed by it. */
  ca?: Buffer;
}

export interface AdsServerOptions {
  /** host:port (IPv6 in brackets); port 0 picks a free one, see address(). */
  listen?: string;
  tls?: XdsTls;
  /** Called once per stream with the node of its first request; throwing refuses the stream. */
  subscribe: (node: XdsNode) => XdsSubscription;
  /** Sent as ControlPlane.identifier; default: the host name (the pod name in a cluster). */
  controlPlane?: string;
  logger?: Logger;
  maxMessageBytes?: number;
  /** Offer DeltaAggregatedResources beside StreamAggregatedResources. Default: DEFAULTS.xdsDelta. */
  delta?: boolean;
  /**
   * Streams open at once from one client address (SPEC §10: a peer cannot grow what it holds without
   * bound); past it a new stream ends at once with RESOURCE_EXHAUSTED. Default: DEFAULTS.xdsMaxStreamsPerClient.
   */
  maxStreamsPerClient?: number;
  onAck?: (stream: AdsStreamInfo, typeUrl: string, version: string) => void;
  onNack?: (stream: AdsStreamInfo, typeUrl: string, version: string, message: string) => void;
  onStreamEnd?: (stream: AdsStreamInfo) => void;
  /** Per-name VIPs (issue 14 item 5): offer `meshdns.v1.PerNameVips` beside ADS. */
  perName?: PerNameService;
  /** Bytes of large responses in flight at once (send-budget.ts). Default: DEFAULTS.xdsSendBudget. */
  sendBudget?: Partial<SendBudgetOptions>;
}

/** Time close() leaves streams to finish before it cuts them. */
const CLOSE_GRACE_MS = 1000;

export class AdsServer {
  private readonly server: Server;
  private readonly streams = new Set<AdsStreamBase<unknown, unknown>>();
  /** Open streams by client address (the peer without its port). */
  private readonly perClient = new Map<string, number>();
  private nextId = 0;
  /** Shared by every stream: first syncs of many agents at once take turns past it. */
  readonly sendBudget: SendBudget;
  private port: number | undefined;
  private host = '';

  constructor(private readonly options: AdsServerOptions) {
    this.sendBudget = new SendBudget({ ...DEFAULTS.xdsSendBudget, ...options.sendBudget });
    const max = options.maxMessageBytes ?? DEFAULTS.xdsMaxMessageBytes;
    this.server = new Server({ 'grpc.max_receive_message_length': max, 'grpc.max_send_message_length': max });
    const sotw = (call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) =>
      this.accept(call, (id, hooks) => new AdsStream(id, call, hooks));
    const delta = (call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) =>
      this.accept(call, (id, hooks) => new DeltaStream(id, call, hooks));
    if (options.delta ?? DEFAULTS.xdsDelta) {
      this.server.addService(
        { StreamAggregatedResources: ADS_METHOD, DeltaAggregatedResources: DELTA_METHOD },
        { StreamAggregatedResources: sotw, DeltaAggregatedResources: delta },
      );
    } else {
      this.server.addService({ StreamAggregatedResources: ADS_METHOD }, { StreamAggregatedResources: sotw });
    }
    const perName = options.perName;
    if (perName) {
      const ask = (
        call: ServerUnaryCall<XdsPerNameAsk, XdsPerNameReply>,
        done: sendUnaryData<XdsPerNameReply>,
      ) => unary(() => perName.ask(call.request), done);
      const touch = (
        call: ServerUnaryCall<XdsPerNameTouch, Record<string, never>>,
        done: sendUnaryData<Record<string, never>>,
      ) =>
        unary(() => {
          perName.touch(call.request);
          return {};
        }, done);
      this.server.addService(
        { Ask: PER_NAME_ASK_METHOD, Touch: PER_NAME_TOUCH_METHOD },
        { Ask: ask, Touch: touch },
      );
    }
  }

  async start(): Promise<void> {
    const listen = this.options.listen ?? DEFAULTS.xdsListen;
    const { host, port } = listenAddress(listen);
    const creds = this.options.tls
      ? ServerCredentials.createSsl(
          this.options.tls.ca ?? null,
          [{ private_key: this.options.tls.key, cert_chain: this.options.tls.cert }],
          this.options.tls.ca !== undefined,
        )
      : ServerCredentials.createInsecure();
    const bindTo = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(bindTo, creds, (err, bound) => {
        if (err)
          reject(
            new MeshdnsError('MESHDNS_XDS_LISTEN', `xDS listen ${listen}: ${err.message}`, { cause: err }),
          );
        else resolve(bound);
      });
    });
    this.host = host;
  }

  address(): { host: string; port: number } {
    if (this.port === undefined) throw new Error('AdsServer.address() before start()');
    return { host: this.host, port: this.port };
  }

  /** The open streams and what each has sent, ACKed and NACKed (for /debug). */
  connections(): AdsStreamInfo[] {
    return [...this.streams].flatMap((s) => (s.info ? [s.info] : []));
  }

  /** Ends every stream with an OK status, then releases the port. */
  async close(): Promise<void> {
    for (const stream of [...this.streams]) stream.end();
    await new Promise<void>((resolve) => {
      const cut = setTimeout(() => this.server.forceShutdown(), CLOSE_GRACE_MS);
      this.server.tryShutdown(() => {
        clearTimeout(cut);
        resolve();
      });
    });
  }

  private accept(
    call: ServerDuplexStream<unknown, unknown>,
    make: (id: number, hooks: AdsStreamHooks) => AdsStreamBase<unknown, unknown>,
  ): void {
    const log = this.options.logger;
    const client = clientAddress(call.getPeer());
    const open = this.perClient.get(client) ?? 0;
    const max = this.options.maxStreamsPerClient ?? DEFAULTS.xdsMaxStreamsPerClient;
    if (open >= max) {
      log?.warn(
        { client, streams: open },
        'xds stream refused: the client has the most streams allowed open',
      );
      call.emit('error', {
        code: status.RESOURCE_EXHAUSTED,
        details: `${open} streams from ${client} are open, the most allowed`,
      });
      return;
    }
    this.perClient.set(client, open + 1);
    const stream = make(++this.nextId, {
      subscribe: this.options.subscribe,
      controlPlane: this.options.controlPlane ?? hostname(),
      budget: this.sendBudget,
      onAck: (info, typeUrl, version) => {
        log?.debug({ node: info.node.id, typeUrl, version }, 'xds ack');
        this.options.onAck?.(info, typeUrl, version);
      },
      onNack: (info, typeUrl, version, message) => {
        // The agent keeps its last good version; this version is not sent to it again.
        log?.warn(
          { node: info.node.id, typeUrl, version, error: message },
          'xds nack: the agent refused an update',
        );
        this.options.onNack?.(info, typeUrl, version, message);
      },
      onEnd: (s) => {
        this.streams.delete(s);
        const left = (this.perClient.get(client) ?? 1) - 1;
        if (left > 0) this.perClient.set(client, left);
        else this.perClient.delete(client);
        if (s.info) this.options.onStreamEnd?.(s.info);
      },
    });
    this.streams.add(stream);
  }
}

/** A handler's answer, or its error as INTERNAL with the message (a bad request never ends the server). */
function unary<T>(answer: () => T | Promise<T>, done: sendUnaryData<T>): void {
  Promise.resolve()
    .then(answer)
    .then(
      (reply) => done(null, reply),
      (err: unknown) => done({ code: status.INTERNAL, details: (err as Error).message || String(err) }),
    );
}

/** "ipv4:10.1.2.3:5678" or "ipv6:[::1]:5678" → the address without the port. */
function clientAddress(peer: string): string {
  const at = peer.lastIndexOf(':');
  return at > 0 ? peer.slice(0, at) : peer;
}
