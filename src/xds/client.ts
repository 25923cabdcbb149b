// The agent's side: one ADS stream to the controller, subscribed to the name table and the VIP routes.
// Incremental (delta) ADS by default, so a change brings only the names it touched; against a controller
// without it (UNIMPLEMENTED) the connection falls back to state-of-the-world. An update the handler
// refuses is NACKed and the agent stays on its last good version (Envoy's rule); a lost controller is
// retried with capped, jittered backoff, each attempt on a fresh channel so that grpc-js's own (much
// longer) reconnect backoff never delays a controller that is back.
import {
  type ChannelOptions,
  Client,
  type ClientDuplexStream,
  credentials,
  Metadata,
  status,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { DEFAULTS } from '../defaults.js';
import { backoffDelay } from './backoff.js';
import {
  type HeldResources as Held,
  HeldResources,
  nameTableCodec,
  vipRoutesCodec,
  workloadConfigCodec,
  type XdsHandler,
  type XdsNameTableDelta,
} from './client-resources.js';
import {
  DELTA_METHOD_PATH,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  decodeDeltaResponse,
  encodeDeltaRequest,
} from './delta-messages.js';
import {
  ADS_METHOD_PATH,
  type DiscoveryRequest,
  type DiscoveryResponse,
  decodeResponse,
  encodeRequest,
  NACK_CODE,
} from './messages.js';
import {
  decodePerNameReply,
  encodePerNameAsk,
  encodePerNameTouch,
  PER_NAME_ASK_PATH,
  PER_NAME_TOUCH_PATH,
  unaryCall,
  type XdsPerNameAsk,
  type XdsPerNameReply,
  type XdsPerNameTouch,
} from './per-name.js';
import { NAME_TABLE_TYPE_URL, VIP_ROUTES_TYPE_URL, WORKLOAD_CONFIG_TYPE_URL } from './proto.js';
import { listenAddress } from './target.js';
import type { XdsNameTable, XdsNode, XdsVipRoute, XdsWorkloadConfig } from './types.js';

export type { XdsHandler, XdsNameTableDelta } from './client-resources.js';

export interface AdsClientTls {
  /** The CA that signed the controller's certificate. */
  ca: Buffer;
  /** A client certificate, for a controller that verifies them. */
  cert?: Buffer;
  key?: Buffer;
  /** The name to check the controller's certificate against, when not the target's host. */
  serverName?: string;
}

export interface AdsClientOptions {
  /** The controller, host:port. */
  target: string;
  node: XdsNode;
  tls?: AdsClientTls;
  /**
   * Each handler given subscribes its type. The workload config is subscribed first, so a controller
   * that serves it answers it before the first name table.
   */
  onWorkloadConfig?: XdsHandler<XdsWorkloadConfig>;
  /** The whole table after each update (built from the parts held: costs the table each time). */
  onNameTable?: XdsHandler<XdsNameTable>;
  /** Only the hosts an update set and removed; used instead of onNameTable when given. */
  onNameTableDelta?: XdsNameTableDelta;
  onVipRoutes?: XdsHandler<XdsVipRoute[]>;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Jitter source; tests pass a seeded one. */
  random?: () => number;
  logger?: Logger;
  maxMessageBytes?: number;
  /** Speak incremental ADS (falling back per connection when the controller lacks it). Default: DEFAULTS.xdsDelta. */
  delta?: boolean;
}

export interface AdsClientState {
  /** A stream is open and the controller answered it. */
  connected: boolean;
  /** The last version accepted per type URL; kept across reconnects and sent back on resubscribe. */
  versions: Record<string, string>;
  /** Streams opened so far. */
  connects: number;
  lastError?: { message: string; at: string };
  lastNack?: { typeUrl: string; version: string; message: string; at: string };
  /** When a reconnect is pending: its delay. */
  retryInMs?: number;
  /** The ADS method of the current (or last) stream. */
  protocol?: 'sotw' | 'delta';
}

type SotwCall = ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
type DeltaCall = ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
type Call = SotwCall | DeltaCall;

export class AdsClient {
  /** What the agent holds of each subscribed type, in subscription order (the workload config first). */
  private readonly types = new Map<string, Held<unknown>>();
  private readonly state: AdsClientState = { connected: false, versions: {}, connects: 0 };
  private grpc: Client | undefined;
  private call: Call | undefined;
  private retry: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;
  /** The current stream got a response: an UNIMPLEMENTED after that is not a missing delta method. */
  private answered = false;
  private warnedFallback = false;
  /** Responses are handled one at a time, so ACKs go out in the order the updates came. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: AdsClientOptions) {
    listenAddress(options.target); // a bad flag fails here, not on the first connect
    const { onWorkloadConfig, onNameTable, onNameTableDelta, onVipRoutes } = options;
    const add = <T>(typeUrl: string, codec: ConstructorParameters<typeof HeldResources<T>>[1]) =>
      this.types.set(typeUrl, new HeldResources(typeUrl, codec) as Held<unknown>);
    if (onWorkloadConfig) add(WORKLOAD_CONFIG_TYPE_URL, workloadConfigCodec(onWorkloadConfig));
    if (onNameTable || onNameTableDelta) {
      const handlers = onNameTableDelta ? { onNameTableDelta } : onNameTable ? { onNameTable } : {};
      add(NAME_TABLE_TYPE_URL, nameTableCodec(handlers));
    }
    if (onVipRoutes) add(VIP_ROUTES_TYPE_URL, vipRoutesCodec(onVipRoutes));
  }

  /** Opens the stream; returns at once, the first update arrives through the handlers. */
  async start(): Promise<void> {
    this.connect(this.options.delta ?? DEFAULTS.xdsDelta);
  }

  status(): AdsClientState {
    return structuredClone(this.state);
  }

  /**
   * Per-name VIPs (issue 14 item 5): asks the controller this stream is connected to (the one that will
   * push the view holding the name). Rejects when no stream is up, on a deadline, or on an error status.
   */
  askPerName(req: XdsPerNameAsk, timeoutMs: number): Promise<XdsPerNameReply> {
    return this.unary(PER_NAME_ASK_PATH, encodePerNameAsk, decodePerNameReply, req, timeoutMs);
  }

  /** Reports the per-name names answered since the last report (kept another idle period). */
  async touchPerName(req: XdsPerNameTouch, timeoutMs: number): Promise<void> {
    await this.unary(PER_NAME_TOUCH_PATH, encodePerNameTouch, () => ({}), req, timeoutMs);
  }

  private unary<Req, Res>(
    path: string,
    encode: (req: Req) => Buffer,
    decode: (bytes: Buffer) => Res,
    req: Req,
    timeoutMs: number,
  ): Promise<Res> {
    const grpc = this.grpc;
    if (!grpc || this.closed) return Promise.reject(new Error('no stream to the controller'));
    return unaryCall(grpc, path, encode, decode, req, timeoutMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.call?.cancel();
    this.grpc?.close();
    this.call = undefined;
    this.grpc = undefined;
    this.state.connected = false;
    await this.queue;
  }

  private connect(delta: boolean): void {
    this.retry = undefined;
    delete this.state.retryInMs;
    this.answered = false;
    this.grpc = new Client(this.options.target, this.credentials(), this.channelOptions());
    const call = delta
      ? this.grpc.makeBidiStreamRequest(
          DELTA_METHOD_PATH,
          encodeDeltaRequest,
          decodeDeltaResponse,
          new Metadata(),
        )
      : this.grpc.makeBidiStreamRequest(ADS_METHOD_PATH, encodeRequest, decodeResponse, new Metadata());
    this.call = call;
    this.state.connects++;
    this.state.protocol = delta ? 'delta' : 'sotw';
    call.on('metadata', () => {
      if (this.call === call) this.state.connected = true;
    });
    call.on('data', (res: DiscoveryResponse | DeltaDiscoveryResponse) => {
      this.attempt = 0;
      this.answered = true;
      this.queue = this.queue.then(() =>
        delta
          ? this.respondDelta(call as DeltaCall, res as DeltaDiscoveryResponse)
          : this.respondSotw(call as SotwCall, res as DiscoveryResponse),
      );
    });
    // 'error' carries the same status as 'status'; listening keeps it from being thrown.
    call.on('error', () => {});
    call.on('status', (s: { code: status; details: string }) => this.lost(call, s, delta));
    let first = true;
    for (const [typeUrl, held] of this.types) {
      const node = first ? this.options.node : undefined;
      if (delta) {
        (call as DeltaCall).write({
          node,
          typeUrl,
          resourceNamesSubscribe: [],
          resourceNamesUnsubscribe: [],
          initialResourceVersions: held.versions(),
          responseNonce: '',
        });
      } else {
        const versionInfo = this.state.versions[typeUrl] ?? '';
        (call as SotwCall).write({ versionInfo, node, typeUrl, responseNonce: '' });
      }
      first = false;
    }
  }

  private async respondDelta(call: DeltaCall, res: DeltaDiscoveryResponse): Promise<void> {
    const version = res.systemVersionInfo;
    const error = await this.take(res.typeUrl, version, (held) =>
      held.deltaChange(res.resources, res.removedResources),
    );
    if (this.call !== call) return;
    call.write({
      typeUrl: res.typeUrl,
      resourceNamesSubscribe: [],
      resourceNamesUnsubscribe: [],
      initialResourceVersions: {},
      responseNonce: res.nonce,
      errorDetail: error === undefined ? undefined : { code: NACK_CODE, message: error },
    });
  }

  private async respondSotw(call: SotwCall, res: DiscoveryResponse): Promise<void> {
    const version = res.versionInfo;
    const error = await this.take(res.typeUrl, version, (held) => held.sotwChange(res.resources, version));
    // The stream ended while the handler ran: the next one resubscribes with the version just taken.
    if (this.call !== call) return;
    call.write({
      // A NACK names the version the agent stays on (Envoy's rule), an ACK the one it took.
      versionInfo: this.state.versions[res.typeUrl] ?? '',
      typeUrl: res.typeUrl,
      responseNonce: res.nonce,
      errorDetail: error === undefined ? undefined : { code: NACK_CODE, message: error },
    });
  }

  /** Decodes and hands over one response; returns why it was refused, or undefined when taken. */
  private async take(
    typeUrl: string,
    version: string,
    change: (held: Held<unknown>) => ReturnType<Held<unknown>['deltaChange']>,
  ): Promise<string | undefined> {
    const held = this.types.get(typeUrl);
    let error: string | undefined;
    try {
      if (!held) throw new Error(`type ${typeUrl} was not subscribed`);
      await held.take(change(held), version);
    } catch (err) {
      error = (err as Error).message || String(err);
    }
    const at = new Date().toISOString();
    if (error === undefined) {
      this.state.versions[typeUrl] = version;
    } else {
      this.state.lastNack = { typeUrl, version, message: error, at };
      this.state.lastError = { message: `${typeUrl} version ${version} refused: ${error}`, at };
      this.options.logger?.warn({ typeUrl, version, error }, 'xds update refused');
    }
    return error;
  }

  private lost(call: Call, s: { code: status; details: string }, delta: boolean): void {
    if (this.call !== call || this.closed) return;
    this.call = undefined;
    this.grpc?.close();
    this.grpc = undefined;
    this.state.connected = false;
    if (delta && s.code === status.UNIMPLEMENTED && !this.answered) {
      // A controller without incremental ADS: this connection speaks state-of-the-world instead.
      if (!this.warnedFallback)
        this.options.logger?.info(
          { target: this.options.target },
          'xds: no delta ADS, using state-of-the-world',
        );
      this.warnedFallback = true;
      this.connect(false);
      return;
    }
    const why = s.code === status.OK ? 'the controller ended the stream' : `${status[s.code]}: ${s.details}`;
    this.state.lastError = {
      message: `xDS stream to ${this.options.target}: ${why}`,
      at: new Date().toISOString(),
    };
    const delay = backoffDelay(
      this.attempt++,
      this.options.backoffInitialMs ?? DEFAULTS.xdsBackoffInitialMs,
      this.options.backoffMaxMs ?? DEFAULTS.xdsBackoffMaxMs,
      this.options.random ?? Math.random,
    );
    this.state.retryInMs = delay;
    this.options.logger?.info(
      { target: this.options.target, reason: why, retryInMs: delay },
      'xds reconnect',
    );
    this.retry = setTimeout(() => this.connect(this.options.delta ?? DEFAULTS.xdsDelta), delay);
  }

  private credentials() {
    const tls = this.options.tls;
    if (!tls) return credentials.createInsecure();
    return credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null);
  }

  private channelOptions(): ChannelOptions {
    const max = this.options.maxMessageBytes ?? DEFAULTS.xdsMaxMessageBytes;
    const options: ChannelOptions = {
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
      'grpc.keepalive_time_ms': DEFAULTS.xdsKeepaliveMs,
      'grpc.keepalive_timeout_ms': DEFAULTS.xdsKeepaliveTimeoutMs,
    };
    if (this.options.tls?.serverName) options['grpc.ssl_target_name_override'] = this.options.tls.serverName;
    return options;
  }
}
