// What the server's two kinds of stream (state-of-the-world and delta) share: the first request's node
// opens the subscription, a watch on it pushes, and the end of the stream, however it comes, releases both.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { Metadata, status } from '@grpc/grpc-js';
import type { XdsSubscription } from './publisher.js';
import type { SendBudget, SendGrant } from './send-budget.js';
import type { XdsNode } from './types.js';

export interface AdsTypeState {
  /** The last response sent on this stream (delta: its system_version_info). */
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
  /** Which ADS method the agent speaks. */
  protocol: 'sotw' | 'delta';
  openedAt: Date;
  types: ReadonlyMap<string, AdsTypeState>;
}

export interface AdsStreamHooks {
  subscribe(node: XdsNode): XdsSubscription;
  controlPlane: string;
  onAck(stream: AdsStreamInfo, typeUrl: string, version: string): void;
  onNack(stream: AdsStreamInfo, typeUrl: string, version: string, message: string): void;
  onEnd(stream: AdsStreamBase<unknown, unknown>): void;
  /** The server's bytes of large responses in flight; none: nothing is counted. */
  budget?: SendBudget;
}

export abstract class AdsStreamBase<Req, Res> {
  info: AdsStreamInfo | undefined;
  protected readonly types = new Map<string, AdsTypeState>();
  protected subscription: XdsSubscription | undefined;
  protected nonce = 0;
  protected ended = false;
  private unwatch: (() => void) | undefined;
  /** Counted sends not yet flushed: given back when the stream ends, however it ends. */
  private readonly grants = new Set<SendGrant>();
  /** Cancels this stream's wait for room in the budget, while it waits. */
  private unwait: (() => void) | undefined;

  constructor(
    readonly id: number,
    protected readonly call: ServerDuplexStream<Req, Res>,
    protected readonly hooks: AdsStreamHooks,
    private readonly protocol: AdsStreamInfo['protocol'],
  ) {
    call.on('data', (req: Req) => {
      if (!this.ended) this.request(req);
    });
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

  protected abstract request(req: Req): void;
  protected abstract push(typeUrl: string): void;

  /**
   * Room in the server's budget for a response of `bytes`: a grant to write it with, or undefined when it
   * must wait; every type is then pushed again once there may be room. `force`: counted, never refused.
   */
  protected reserve(bytes: number, force = false): SendGrant | undefined {
    const budget = this.hooks.budget;
    if (!budget) return { release: () => {} };
    const grant = budget.take(bytes, force);
    if (grant || this.unwait) return grant;
    this.unwait = budget.wait(() => {
      this.unwait = undefined;
      for (const typeUrl of this.types.keys()) if (!this.ended) this.push(typeUrl);
    });
    return undefined;
  }

  /** Writes a response under its grant, given back once gRPC has flushed it; false: gRPC holds back. */
  protected writeGranted(res: Res, grant: SendGrant): boolean {
    this.grants.add(grant);
    return this.call.write(res, () => {
      grant.release();
      this.grants.delete(grant);
    });
  }

  /** The first request: its node picks the subscription. False when the stream was refused. */
  protected open(node: XdsNode | undefined): boolean {
    if (!node?.id) {
      this.fail(status.INVALID_ARGUMENT, 'the first DiscoveryRequest of a stream must carry node.id');
      return false;
    }
    this.info = {
      id: this.id,
      node,
      peer: this.call.getPeer(),
      protocol: this.protocol,
      openedAt: new Date(),
      types: this.types,
    };
    try {
      this.subscription = this.hooks.subscribe(node);
    } catch (err) {
      this.fail(status.FAILED_PRECONDITION, `no view for node ${node.id}: ${(err as Error).message}`);
      return false;
    }
    this.unwatch = this.subscription.watch((typeUrl) => this.push(typeUrl));
    return true;
  }

  /** Ends the stream with ABORTED: the agent reconnects at once and says what it holds. */
  protected abort(details: string): void {
    this.fail(status.ABORTED, details);
  }

  private fail(code: status, details: string): void {
    this.call.emit('error', { code, details });
    this.finish();
  }

  protected finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.unwatch?.();
    this.unwait?.();
    this.unwait = undefined;
    // A frame the agent never read is not freed before the stream is; it no longer holds others back.
    for (const grant of this.grants) grant.release();
    this.grants.clear();
    this.hooks.onEnd(this as AdsStreamBase<unknown, unknown>);
  }
}
