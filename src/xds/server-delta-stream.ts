// One agent's incremental ADS stream on the server. A type is subscribed whole (wildcard) or by name
// (DeltaInterest). After the first response, what the agent holds is the publisher's content at the
// sequence the stream last sent (the names it asked for), so a commit costs the names it changed (the
// publisher's log). The stream keeps a map of what the agent
// holds only when that is not true: on a reconnect (initial_resource_versions), while gRPC holds back
// its writes (the log may move past it), and after a NACK (the agent kept older versions).
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { DEFAULTS } from '../defaults.js';
import { DeltaInterest } from './delta-interest.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaResource } from './delta-messages.js';
import { dropWhole, everything, stepOf, versionsOf, wireOf } from './delta-shared.js';
import type { XdsDeltaSource } from './publisher.js';
import type { SendGrant } from './send-budget.js';
import { AdsStreamBase, type AdsStreamHooks, type AdsTypeState } from './stream-base.js';

interface DeltaTypeState {
  record: AdsTypeState;
  /** The source and sequence the agent was last brought to. */
  source?: XdsDeltaSource;
  sequence: number;
  /** Name → version the agent holds, when that is not simply `source` at `sequence`. */
  held?: Map<string, string>;
  /** Versions the agent refused, by name: never sent again on this stream. */
  nacked: Map<string, string>;
  /** No response sent yet: the first one goes out even when empty (the agent waits for its first table). */
  first: boolean;
  /** The names the agent asked for (every one, or some by name). */
  interest: DeltaInterest;
}

interface Pending {
  typeUrl: string;
  version: string;
  /** Name → the version sent, or undefined for a removal. */
  names: ReadonlyMap<string, string | undefined>;
}

export class DeltaStream extends AdsStreamBase<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  private readonly delta = new Map<string, DeltaTypeState>();
  private readonly pending = new Map<string, Pending>();
  private blocked = false;

  constructor(
    id: number,
    call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>,
    hooks: AdsStreamHooks,
  ) {
    super(id, call, hooks, 'delta');
  }

  protected request(req: DeltaDiscoveryRequest): void {
    if (!this.info && !this.open(req.node)) return;
    if (!req.typeUrl) return;
    const state = this.delta.get(req.typeUrl);
    if (!state) {
      const record: AdsTypeState = {};
      this.types.set(req.typeUrl, record);
      const initial = Object.entries(req.initialResourceVersions);
      this.delta.set(req.typeUrl, {
        record,
        sequence: 0,
        held: new Map(initial),
        nacked: new Map(),
        first: true,
        interest: new DeltaInterest(req.resourceNamesSubscribe),
      });
      this.push(req.typeUrl);
      return;
    }
    if (req.responseNonce) this.answered(state, req);
    this.resubscribe(req.typeUrl, state, req);
  }

  /** Names subscribed or unsubscribed after the first request: the new ones are sent now. */
  private resubscribe(typeUrl: string, state: DeltaTypeState, req: DeltaDiscoveryRequest): void {
    const { resourceNamesSubscribe: add, resourceNamesUnsubscribe: drop } = req;
    if (add.length === 0 && drop.length === 0) return;
    // The agent forgets what it unsubscribed; so does the stream.
    for (const name of drop) {
      state.held?.delete(name);
      state.nacked.delete(name);
    }
    const next = state.interest.change(add, drop);
    if (next === 'whole' && state.source) {
      // Wildcard on: what the agent holds (the names it had asked for) is compared with everything.
      state.held ??= versionsOf(state.source, (name) => state.interest.named.has(name));
      state.source = undefined;
    }
    if (next) this.push(typeUrl);
  }

  private answered(state: DeltaTypeState, req: DeltaDiscoveryRequest): void {
    const sent = this.pending.get(req.responseNonce);
    if (!sent || sent.typeUrl !== req.typeUrl) return;
    this.pending.delete(req.responseNonce);
    if (req.errorDetail) {
      for (const [name, version] of sent.names) if (version !== undefined) state.nacked.set(name, version);
      state.record.nack = { version: sent.version, message: req.errorDetail.message };
      this.hooks.onNack(this.info!, req.typeUrl, sent.version, req.errorDetail.message);
    } else {
      state.record.acked = sent.version;
      this.hooks.onAck(this.info!, req.typeUrl, sent.version);
    }
  }

  /** Sends what changed of a type since the agent was last brought up to date. */
  protected push(typeUrl: string): void {
    const state = this.delta.get(typeUrl);
    const source = this.subscription?.named(typeUrl);
    if (this.ended || this.blocked || !state || !source) return;
    const { interest } = state;
    if (
      state.source === source &&
      state.sequence === source.sequence &&
      !state.first &&
      !interest.fresh.size
    ) {
      // Up to date after a hold: the map copied for it would otherwise stay (a table's worth per stream).
      if (state.nacked.size === 0) delete state.held;
      return;
    }
    // Another source (the agent moved to another view): compare whole against what it holds of the old one.
    if (state.source !== source && state.source && !state.held)
      state.held = versionsOf(state.source, (name) => interest.has(name));
    const changed = state.source === source ? source.changedSince(state.sequence) : undefined;
    if (changed === undefined && !state.held) {
      // Behind the log with no record of what the agent holds (its subscription went quiet): only the
      // agent knows, and it says so on a reconnect (initial_resource_versions).
      this.abort(`fell ${source.sequence - state.sequence} commits behind on ${typeUrl}; reconnect`);
      return;
    }
    if (changed === undefined && state.held?.size === 0 && state.nacked.size === 0 && interest.wildcard) {
      // An agent holding nothing (its first stream) gets everything: the same bytes for every such agent,
      // the whole response included (its nonce is the content's, not the stream's: see everything()).
      const all = everything(source);
      const message = all.message(typeUrl, this.hooks.controlPlane);
      // Many first syncs at once wait their turn here, before anything of the stream moved on.
      const grant = this.reserve(message.length);
      if (!grant) return;
      this.resolve(state, source);
      this.send(typeUrl, source.version, [], [], all.versions, grant, { nonce: all.nonce, message });
      return;
    }
    // The whole content made for first syncs is dropped once the source has moved on.
    dropWhole(source);
    if (changed && !state.held && state.nacked.size === 0 && interest.wildcard && !interest.fresh.size) {
      // The usual push: every name the commits changed, the same response for every stream of the view
      // that was at the same sequence (200 agents, 10 views: 10 responses made per change, not 200).
      const step = stepOf(source, state.sequence, typeUrl, this.hooks.controlPlane);
      const first = state.first;
      this.resolve(state, source);
      if (!step.message && !first) return;
      const shared = step.message ? { nonce: step.nonce, message: step.message } : undefined;
      this.send(typeUrl, source.version, [], [], step.names, this.reserve(step.bytes, true)!, shared);
      return;
    }
    const out: DeltaResource[] = [];
    const removed: string[] = [];
    const names = new Map<string, string | undefined>();
    const consider = (name: string) => {
      if (!interest.has(name) || names.has(name)) return;
      const now = source.resources.get(name);
      if (now) {
        if (state.held?.get(name) === now.version || state.nacked.get(name) === now.version) return;
        state.held?.set(name, now.version);
        state.nacked.delete(name);
        out.push({ name, version: now.version, resource: now.resource, wire: wireOf(name, now) });
        names.set(name, now.version);
      } else if (!state.held || state.held.delete(name)) {
        // Without a map the agent may not have it; removing a name it lacks is harmless (Envoy ignores it).
        removed.push(name);
        names.set(name, undefined);
      }
    };
    if (changed) for (const name of changed) consider(name);
    else {
      for (const name of interest.wildcard ? source.resources.keys() : interest.named) consider(name);
      for (const name of [...state.held!.keys()]) if (!source.resources.has(name)) consider(name);
    }
    // Names asked for since the last response go out even unchanged; one that does not exist is removed.
    for (const name of interest.fresh) {
      if (source.resources.has(name)) consider(name);
      else if (!names.has(name)) {
        state.held?.delete(name);
        removed.push(name);
        names.set(name, undefined);
      }
    }
    interest.fresh.clear();
    const first = state.first;
    this.resolve(state, source);
    if (out.length === 0 && removed.length === 0 && !first) return;
    let bytes = 0;
    for (const r of out) bytes += r.wire?.length ?? 0;
    this.send(typeUrl, source.version, out, removed, names, this.reserve(bytes, true)!);
  }

  /** The agent is now at the source's sequence. */
  private resolve(state: DeltaTypeState, source: XdsDeltaSource): void {
    state.source = source;
    state.sequence = source.sequence;
    state.first = false;
    // With nothing refused, the agent now holds exactly the source's content: the map can go.
    if (state.nacked.size === 0) delete state.held;
  }

  private send(
    typeUrl: string,
    version: string,
    resources: DeltaResource[],
    removed: string[],
    names: ReadonlyMap<string, string | undefined>,
    grant: SendGrant,
    shared?: { nonce: string; message: Buffer },
  ): void {
    const nonce = shared?.nonce ?? String(++this.nonce);
    this.pending.set(nonce, { typeUrl, version, names });
    // An agent that never answers cannot grow this without bound: its oldest responses are forgotten.
    if (this.pending.size > DEFAULTS.xdsMaxPendingResponses)
      this.pending.delete(this.pending.keys().next().value!);
    this.delta.get(typeUrl)!.record.sent = { version, nonce };
    const flowing = this.writeGranted(
      {
        systemVersionInfo: version,
        typeUrl,
        nonce,
        resources,
        removedResources: removed,
        controlPlane: this.hooks.controlPlane,
        ...(shared ? { message: shared.message } : {}),
      },
      grant,
    );
    if (!flowing) this.hold();
  }

  /**
   * gRPC holds back further writes until the agent reads: stop pushing, and remember what each type's
   * agent holds, since by the time it drains the publisher's log may no longer reach back this far.
   */
  private hold(): void {
    this.blocked = true;
    for (const state of this.delta.values())
      if (state.source && !state.held)
        state.held = versionsOf(state.source, (name) => state.interest.has(name));
    this.call.once('drain', () => {
      this.blocked = false;
      for (const typeUrl of this.delta.keys()) this.push(typeUrl);
    });
  }
}
