// One agent's ADS stream on the server: it waits for the first request's node, asks the controller for
// that node's subscription, pushes each new snapshot of a subscribed type, and records ACKs and NACKs.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { Metadata, status } from '@grpc/grpc-js';
import type { DiscoveryRequest, DiscoveryResponse } from './messages.js';
import type { XdsSubscription } from './publisher.js';
import type { XdsNode } from './types.js';

export interface AdsTypeState {
  /** The last response sent on this stream. */
  sent?: { version: string; nonce: string };
  /** The last version the agent accepted. */
  acked?: string;
  /** The last version the agent refused, and why; it is not sent again on this stream. */
  nack?: { version: string; message: string };
}

export interface AdsStreamInfo {
  id: number;
  node: XdsNode;
  peer: string;
  openedAt: Date;
  types: ReadonlyMap<string, AdsTypeState>;
}

export interface AdsStreamHooks {
  subscribe(node: XdsNode): XdsSubscription;
  controlPlane: string;
  onAck(stream: AdsStreamInfo, typeUrl: string, version: string): void;
  onNack(stream: AdsStreamInfo, typeUrl: string, version: string, message: string): void;
  onEnd(stream: AdsStream): void;
}

type Call = ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

export class AdsStream {
  info: AdsStreamInfo | undefined;
  private readonly types = new Map<string, AdsTypeState>();
  private subscription: XdsSubscription | undefined;
  private unwatch: (() => void) | undefined;
  private nonce = 0;
  private ended = false;

  constructor(
    readonly id: number,
    private readonly call: Call,
    private readonly hooks: AdsStreamHooks,
  ) {
    call.on('data', (req: DiscoveryRequest) => this.request(req));
    call.on('end', () => this.end());
    call.on('error', () => this.finish());
    call.on('cancelled', () => this.finish());
    call.on('close', () => this.finish());
    // Headers now, not with the first response: the agent counts as connected before any snapshot exists.
    call.sendMetadata(new Metadata());
  }

  /** Ends the stream with an OK status (the server is closing); the agent reconnects elsewhere or later. */
  end(): void {
    if (this.ended) return;
    this.call.end();
    this.finish();
  }

  private request(req: DiscoveryRequest): void {
    if (this.ended) return;
    if (!this.info && !this.open(req)) return;
    if (!req.typeUrl) return;
    const state = this.types.get(req.typeUrl);
    if (!state) {
      this.types.set(req.typeUrl, {});
      this.push(req.typeUrl);
      return;
    }
    // A request about an older response is stale (Envoy's nonce rule): a newer one is already on its way.
    if (!state.sent || req.responseNonce !== state.sent.nonce) return;
    if (req.errorDetail) {
      state.nack = { version: state.sent.version, message: req.errorDetail.message };
      this.hooks.onNack(this.info!, req.typeUrl, state.sent.version, req.errorDetail.message);
    } else {
      state.acked = req.versionInfo;
      this.hooks.onAck(this.info!, req.typeUrl, req.versionInfo);
    }
  }

  private open(req: DiscoveryRequest): boolean {
    if (!req.node?.id) {
      this.fail(status.INVALID_ARGUMENT, 'the first DiscoveryRequest of a stream must carry node.id');
      return false;
    }
    this.info = {
      id: this.id,
      node: req.node,
      peer: this.call.getPeer(),
      openedAt: new Date(),
      types: this.types,
    };
    try {
      this.subscription = this.hooks.subscribe(req.node);
    } catch (err) {
      this.fail(status.FAILED_PRECONDITION, `no view for node ${req.node.id}: ${(err as Error).message}`);
      return false;
    }
    this.unwatch = this.subscription.watch((typeUrl) => this.push(typeUrl));
    return true;
  }

  /** Sends the current snapshot of a subscribed type unless this stream already sent that version. */
  private push(typeUrl: string): void {
    const state = this.types.get(typeUrl);
    const snapshot = this.subscription?.current(typeUrl);
    if (this.ended || !state || !snapshot || state.sent?.version === snapshot.version) return;
    const nonce = String(++this.nonce);
    state.sent = { version: snapshot.version, nonce };
    this.call.write({
      versionInfo: snapshot.version,
      typeUrl,
      nonce,
      resources: [...snapshot.resources],
      controlPlane: this.hooks.controlPlane,
    });
  }

  private fail(code: status, details: string): void {
    this.call.emit('error', { code, details });
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.unwatch?.();
    this.hooks.onEnd(this);
  }
}
