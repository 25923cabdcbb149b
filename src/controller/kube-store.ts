// The allocation store on Kubernetes: each ServiceEntry's `status.addresses`, written by the Lease holder
// only (DESIGN.md: one writer per store). Nothing is loaded up front: the informers' first list carries
// every entry's status, and the allocator keeps what it finds there, so no restart or failover
// renumbers a VIP. A replica that becomes leader writes the whole current allocation once (what it
// would have written while following), then every change.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Allocation, StoredAllocation } from '../allocate/index.js';
import type { AllocationStore } from './control-plane.js';
import { EventRecorder, LeaderElector, StatusWriter } from './kube/index.js';

export interface KubeStoreOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** The ServiceEntry version served. */
  version: 'v1' | 'v1beta1';
  /** This replica (POD_NAME): the Lease holder identity and the Events' reporting instance. */
  identity: string;
  /** Where the Lease is (POD_NAMESPACE). */
  leaseNamespace: string;
  /** `--no-leader-elect`: write without a Lease (one replica only). */
  leaderElect: boolean;
  /** Lease timings, for tests; client-go's defaults otherwise. */
  lease?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
}

export class KubeStatusStore implements AllocationStore {
  readonly #writer: StatusWriter;
  readonly #events: EventRecorder;
  readonly #elector: LeaderElector | undefined;
  #last: Allocation | undefined;

  constructor(opts: KubeStoreOptions) {
    const { kubeConfig: kc, logger } = opts;
    this.#elector = opts.leaderElect
      ? new LeaderElector(kc, logger, {
          identity: opts.identity,
          namespace: opts.leaseNamespace,
          ...opts.lease,
          onStartedLeading: () => {
            logger.info({ identity: opts.identity }, 'leading: writing VIPs to status.addresses');
            if (this.#last) this.#write(this.#last);
          },
          onStoppedLeading: () => logger.info({ identity: opts.identity }, 'following: not writing status'),
        })
      : undefined;
    const elector = this.#elector;
    this.#writer = new StatusWriter(kc, logger, {
      version: opts.version,
      ...(elector ? { isLeader: () => elector.isLeader } : {}),
    });
    this.#events = new EventRecorder(kc, logger, { instance: opts.identity, version: opts.version });
  }

  /** Whether this replica writes (the Lease holder, or the only replica). */
  get writing(): boolean {
    return this.#elector ? this.#elector.isLeader : true;
  }

  async load(): Promise<StoredAllocation[]> {
    await this.#elector?.start();
    return [];
  }

  observe(allocation: Allocation): void {
    this.#last = allocation;
  }

  save(allocation: Allocation): void {
    if (this.writing) this.#write(allocation);
  }

  async close(): Promise<void> {
    await this.#elector?.stop();
    await Promise.all([this.#writer.close(), this.#events.close()]);
  }

  #write(allocation: Allocation): void {
    this.#writer.sync(allocation.hosts);
    this.#events.reportAllocation(allocation);
  }
}
