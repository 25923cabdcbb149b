// The agent's side: one ADS stream to the controller, subscribed to the name table and the VIP routes.
// An update the handler refuses is NACKed and the agent stays on its last good version (Envoy's rule);
// a lost controller is retried with capped, jittered backoff, each attempt on a fresh channel so that
// grpc-js's own (much longer) reconnect backoff never delays a controller that is back.
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
import { workloadConfigFromResources } from './config-codec.js';
import {
  ADS_METHOD_PATH,
  type DiscoveryRequest,
  type DiscoveryResponse,
  decodeResponse,
  encodeRequest,
  NACK_CODE,
} from './messages.js';
import { nameTableFromResources } from './nametable-codec.js';
import { NAME_TABLE_TYPE_URL, VIP_ROUTES_TYPE_URL, WORKLOAD_CONFIG_TYPE_URL } from './proto.js';
import { listenAddress } from './target.js';
import type { XdsNameTable, XdsNode, XdsResource, XdsVipRoute, XdsWorkloadConfig } from './types.js';
import { vipRoutesFromResources } from './vip-codec.js';

export interface AdsClientTls {
  /** The CA that signed the controller's certificate. */
  ca: Buffer;
  /** A client certificate, for a controller that verifies them. */
  cert?: Buffer;
  key?: Buffer;
  /** The name to check the controller's certificate against, when not the target's host. */
  serverName?: string;
}

/** Returning (or resolving) accepts the update; throwing (or rejecting) NACKs it with the error's message. */
export type XdsHandler<T> = (update: T, version: string) => void | Promise<void>;

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
  onNameTable?: XdsHandler<XdsNameTable>;
  onVipRoutes?: XdsHandler<XdsVipRoute[]>;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Jitter source; tests pass a seeded one. */
  random?: () => number;
  logger?: Logger;
  maxMessageBytes?: number;
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
}

type Call = ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;

export class AdsClient {
  private readonly handlers = new Map<
    string,
    (resources: readonly XdsResource[], version: string) => Promise<void>
  >();
  private readonly state: AdsClientState = { connected: false, versions: {}, connects: 0 };
  private grpc: Client | undefined;
  private call: Call | undefined;
  private retry: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;
  /** Responses are handled one at a time, so ACKs go out in the order the updates came. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: AdsClientOptions) {
    listenAddress(options.target); // a bad flag fails here, not on the first connect
    const { onWorkloadConfig, onNameTable, onVipRoutes } = options;
    if (onWorkloadConfig) {
      this.handlers.set(WORKLOAD_CONFIG_TYPE_URL, async (r, v) =>
        onWorkloadConfig(workloadConfigFromResources(r), v),
      );
    }
    if (onNameTable) {
      this.handlers.set(NAME_TABLE_TYPE_URL, async (r, v) => onNameTable(nameTableFromResources(r), v));
    }
    if (onVipRoutes) {
      this.handlers.set(VIP_ROUTES_TYPE_URL, async (r, v) => onVipRoutes(vipRoutesFromResources(r), v));
    }
  }

  /** Opens the stream; returns at once, the first update arrives through the handlers. */
  async start(): Promise<void> {
    this.connect();
  }

  status(): AdsClientState {
    return structuredClone(this.state);
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

  private connect(): void {
    this.retry = undefined;
    delete this.state.retryInMs;
    this.grpc = new Client(this.options.target, this.credentials(), this.channelOptions());
    const call = this.grpc.makeBidiStreamRequest(
      ADS_METHOD_PATH,
      encodeRequest,
      decodeResponse,
      new Metadata(),
    );
    this.call = call;
    this.state.connects++;
    call.on('metadata', () => {
      if (this.call === call) this.state.connected = true;
    });
    call.on('data', (res: DiscoveryResponse) => {
      this.attempt = 0;
      this.queue = this.queue.then(() => this.respond(call, res));
    });
    // 'error' carries the same status as 'status'; listening keeps it from being thrown.
    call.on('error', () => {});
    call.on('status', (s: { code: status; details: string }) => this.lost(call, s));
    let first = true;
    for (const typeUrl of this.handlers.keys()) {
      call.write({
        versionInfo: this.state.versions[typeUrl] ?? '',
        node: first ? this.options.node : undefined,
        typeUrl,
        responseNonce: '',
      });
      first = false;
    }
  }

  private async respond(call: Call, res: DiscoveryResponse): Promise<void> {
    const handler = this.handlers.get(res.typeUrl);
    let error: string | undefined;
    try {
      if (!handler) throw new Error(`type ${res.typeUrl} was not subscribed`);
      await handler(res.resources, res.versionInfo);
    } catch (err) {
      error = (err as Error).message || String(err);
    }
    const at = new Date().toISOString();
    if (error === undefined) {
      this.state.versions[res.typeUrl] = res.versionInfo;
    } else {
      this.state.lastNack = { typeUrl: res.typeUrl, version: res.versionInfo, message: error, at };
      this.state.lastError = { message: `${res.typeUrl} version ${res.versionInfo} refused: ${error}`, at };
      this.options.logger?.warn(
        { typeUrl: res.typeUrl, version: res.versionInfo, error },
        'xds update refused',
      );
    }
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

  private lost(call: Call, s: { code: status; details: string }): void {
    if (this.call !== call || this.closed) return;
    this.call = undefined;
    this.grpc?.close();
    this.grpc = undefined;
    this.state.connected = false;
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
    this.retry = setTimeout(() => this.connect(), delay);
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
