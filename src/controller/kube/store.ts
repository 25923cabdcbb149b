// The allocation store on Kubernetes: each ServiceEntry's `status.addresses`, written by the Lease holder
// only (DESIGN.md: one writer per store). Nothing is loaded up front: the informers' first list carries
// every entry's status, and the allocator keeps what it finds there, so no restart or failover
// renumbers a VIP. A replica that becomes leader writes the whole current allocation once (what it
// would have written while following), then every change. What status cannot hold — the VIPs of deleted
// entries, in their grace period or held back (issue 14 item 4) — is in a ConfigMap beside the Lease
// (holdback-configmap.ts), read by every replica at start and written by the leader.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Allocation, VipRanges } from '../../allocate/index.js';
import type { AllocationStore, StoredState } from '../index.js';
import { EventRecorder } from './event-recorder.js';
import { HoldbackConfigMap } from './holdback-configmap.js';
import { LeaderElector } from './leader-elector.js';
import { StatusWriter, type WriteGate } from './status-writer.js';

export interface KubeStoreOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** The ServiceEntry version served, known once the source has asked discovery. */
  version: () => string | undefined;
  /** This replica (POD_NAME): the Lease holder identity and the Events' reporting instance. */
  identity: string;
  /** Where the Lease is (POD_NAMESPACE). */
  leaseNamespace: string;
  /** `--no-leader-elect`: write without a Lease (one replica only). */
  leaderElect: boolean;
  /** The VIP ranges allocated from: status addresses outside them are kept in status, not replaced. */
  ranges: VipRanges;
  /** This replica's xDS address for requests forwarded to the leader (per-name VIPs), read at each write. */
  advertise?: () => string | undefined;
  /** Lease timings, for tests; client-go's defaults otherwise. */
  lease?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
}

export class KubeStatusStore implements AllocationStore {
  readonly #opts: KubeStoreOptions;
  /** Made on the first write: the ServiceEntry version is known only once the source has started. */
  #writers: { status: StatusWriter; events: EventRecorder } | undefined;
  readonly #elector: LeaderElector | undefined;
  readonly #holdback: HoldbackConfigMap;
  #last: Allocation | undefined;
  #gate: WriteGate | undefined;

  constructor(opts: KubeStoreOptions) {
    this.#opts = opts;
    const { kubeConfig: kc, logger } = opts;
    this.#elector = opts.leaderElect
      ? new LeaderElector(kc, logger, {
          identity: opts.identity,
          namespace: opts.leaseNamespace,
          ...opts.lease,
          ...(opts.advertise ? { advertise: opts.advertise } : {}),
          onStartedLeading: () => {
            logger.info({ identity: opts.identity }, 'leading: writing VIPs to status.addresses');
            if (this.#last) this.#write(this.#last);
          },
          onStoppedLeading: () => logger.info({ identity: opts.identity }, 'following: not writing status'),
        })
      : undefined;
    const elector = this.#elector;
    this.#holdback = new HoldbackConfigMap(kc, logger, {
      namespace: opts.leaseNamespace,
      ...(elector ? { isLeader: () => elector.isLeader } : {}),
    });
  }

  /** Per-name names (issue 14 item 5) are in `status.addresses` with `host` the name (status-patch.ts). */
  readonly namesInStatus = true;

  /** The Lease holder as last seen (this replica when it leads). */
  get leader(): string | undefined {
    return this.#elector ? this.#elector.leader : this.#opts.identity;
  }

  /** Where the Lease holder takes forwarded requests, when another replica holds it and says. */
  get leaderAddress(): string | undefined {
    return this.#elector?.leaderAddress;
  }

  /** Whether this replica writes (the Lease holder, or the only replica). */
  get writing(): boolean {
    return this.#elector ? this.#elector.isLeader : true;
  }

  /** Present entries' VIPs come with them (status); the ConfigMap holds the absent ones' and the held back. */
  async load(): Promise<StoredState> {
    const { state, errors } = await this.#holdback.load();
    for (const e of errors) this.#opts.logger.warn({ code: e.code }, e.message);
    await this.#elector?.start();
    return state;
  }

  pace(gate: WriteGate): void {
    this.#gate = gate;
  }

  observe(allocation: Allocation): void {
    this.#last = allocation;
  }

  save(allocation: Allocation): void {
    if (this.writing) this.#write(allocation);
  }

  async close(): Promise<void> {
    await this.#elector?.stop();
    await Promise.all([this.#writers?.status.close(), this.#writers?.events.close(), this.#holdback.close()]);
  }

  #write(allocation: Allocation): void {
    this.#holdback.save(allocation.held, allocation.holdback);
    const writers = this.#writersFor();
    if (!writers) return;
    writers.status.sync(allocation.hosts);
    writers.events.reportAllocation(allocation);
  }

  #writersFor(): { status: StatusWriter; events: EventRecorder } | undefined {
    if (this.#writers) return this.#writers;
    const version = this.#opts.version();
    // No ServiceEntry served (Istio not installed): nothing has VIPs to write.
    if (version !== 'v1' && version !== 'v1beta1') return undefined;
    const { kubeConfig: kc, logger, identity } = this.#opts;
    const elector = this.#elector;
    this.#writers = {
      status: new StatusWriter(kc, logger, {
        version,
        ranges: this.#opts.ranges,
        gate: { closed: () => this.#gate?.closed() },
        ...(elector ? { isLeader: () => elector.isLeader } : {}),
      }),
      events: new EventRecorder(kc, logger, { instance: identity, version }),
    };
    return this.#writers;
  }
}
