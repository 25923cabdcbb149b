// One agent's state-of-the-world ADS stream on the server: each new snapshot of a subscribed type is sent
// whole; ACKs and NACKs are recorded, and a NACKed version is never sent again on the stream.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { type DiscoveryRequest, type DiscoveryResponse, encodeResponse } from './messages.js';
import type { XdsSnapshot } from './publisher.js';
import { AdsStreamBase, type AdsStreamHooks } from './stream-base.js';

export type { AdsStreamHooks, AdsStreamInfo, AdsTypeState } from './stream-base.js';

export class AdsStream extends AdsStreamBase<DiscoveryRequest, DiscoveryResponse> {
  constructor(
    id: number,
    call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>,
    hooks: AdsStreamHooks,
  ) {
    super(id, call, hooks, 'sotw');
  }

  protected request(req: DiscoveryRequest): void {
    if (!this.info && !this.open(req.node)) return;
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

  /** Sends the current snapshot of a subscribed type unless this stream already sent that version. */
  protected push(typeUrl: string): void {
    const state = this.types.get(typeUrl);
    const snapshot = this.subscription?.current(typeUrl);
    if (this.ended || !state || !snapshot || state.sent?.version === snapshot.version) return;
    if (state.nack?.version === snapshot.version) return;
    const { nonce, message } = sharedResponse(snapshot, typeUrl, this.hooks.controlPlane);
    const grant = this.reserve(message.length);
    if (!grant) return;
    state.sent = { version: snapshot.version, nonce };
    this.writeGranted(
      {
        versionInfo: snapshot.version,
        typeUrl,
        nonce,
        resources: [...snapshot.resources],
        controlPlane: this.hooks.controlPlane,
        message,
      },
      grant,
    );
  }
}

/**
 * Each snapshot's response, encoded once for every stream that sends it: encoded per stream, a whole table
 * was one more copy per agent (gRPC copies it into its frame anyway). The nonce names the snapshot, not the
 * stream: a stream sends a snapshot at most once (a version already sent is not sent again), and a later
 * snapshot of the same content is another object with another nonce.
 */
const responses = new WeakMap<XdsSnapshot, { nonce: string; key: string; message: Buffer }>();
let snapshots = 0;

function sharedResponse(
  snapshot: XdsSnapshot,
  typeUrl: string,
  controlPlane: string,
): { nonce: string; message: Buffer } {
  const key = `${typeUrl}\0${controlPlane}`;
  let made = responses.get(snapshot);
  if (made?.key !== key) {
    const nonce = made?.nonce ?? `s${++snapshots}`;
    const res = { versionInfo: snapshot.version, typeUrl, nonce, resources: [...snapshot.resources] };
    made = { nonce, key, message: encodeResponse({ ...res, controlPlane }) };
    responses.set(snapshot, made);
  }
  return made;
}
