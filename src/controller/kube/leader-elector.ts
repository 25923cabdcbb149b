// Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics (tools/leaderelection), so
// only one controller replica writes status.addresses while every replica keeps serving agents:
//   - a candidate takes the Lease when it is absent, released (no holder), or expired: not changed for
//     leaseDurationSeconds as measured on our own clock since we last saw it change (never by comparing
//     renewTime with our clock: the nodes' clocks may disagree);
//   - every update carries the resourceVersion read, so of two candidates one gets 409 and loses the race;
//   - the leader renews every retryPeriod and steps down if no renewal succeeded for renewDeadline
//     (shorter than the lease, so it has stopped before anyone may take over);
//   - stop() releases the Lease (no holder) so a follower takes over on its next try, not after expiry.
// Beyond client-go: a leader that reads another holder steps down at once, and after losing it goes back
// to being a candidate instead of exiting (followers serve agents; the process has no reason to die).
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { DEFAULTS } from '../../defaults.js';
import { MeshdnsError } from '../../errors.js';
import { type LeaseRecord, recordKey, recordOf, specOf } from './lease-record.js';
import { failureText, httpCode, pause, requestOptions } from './requests.js';

export interface LeaderElectorOptions {
  /** This replica's identity in the Lease (the pod name). */
  identity: string;
  /** The Lease's namespace (the controller's own, POD_NAMESPACE). */
  namespace?: string;
  name?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** A candidate waits retryPeriod × (1 + random × jitter) between tries (client-go's JitterFactor). */
  jitter?: number;
  requestTimeoutMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  /**
   * Where this replica takes requests meant for the leader (its xDS address, host:port), written in the
   * Lease's LEADER_ADDRESS_ANNOTATION while it holds it: a follower forwards per-name VIP requests there.
   * Read at each write; undefined: none.
   */
  advertise?: () => string | undefined;
  /** Called when the observed holder changes ('' when released). */
  onNewLeader?: (identity: string) => void;
  /** A monotonic clock in milliseconds, for lease expiry (performance.now by default). */
  now?: () => number;
  random?: () => number;
}

type Settings = Required<
  Omit<LeaderElectorOptions, 'onStartedLeading' | 'onStoppedLeading' | 'onNewLeader' | 'advertise'>
>;

/** The Lease annotation naming the holder's address for forwarded requests (issue 14 item 5). */
export const LEADER_ADDRESS_ANNOTATION = 'meshdns.io/xds-address';

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly settings: Settings;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private leading = false;
  /** The Lease as last read or written (its resourceVersion is the precondition of our next update). */
  private lease: V1Lease | undefined;
  private observedKey = '';
  private observedAt = 0;
  private observedHolder: string | undefined;

  constructor(
    kc: KubeConfig,
    private readonly logger: Logger,
    private readonly options: LeaderElectorOptions,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    const d = DEFAULTS.kube;
    this.settings = {
      identity: options.identity,
      namespace: options.namespace ?? d.leaseNamespace,
      name: options.name ?? d.leaseName,
      leaseDurationMs: options.leaseDurationMs ?? d.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs ?? d.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs ?? d.retryPeriodMs,
      jitter: options.jitter ?? d.leaseJitter,
      requestTimeoutMs: options.requestTimeoutMs ?? d.requestTimeoutMs,
      now: options.now ?? (() => performance.now()),
      random: options.random ?? Math.random,
    };
    validate(this.settings);
  }

  /** Whether this replica holds the Lease now. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder last observed ('' released, undefined not read yet). */
  get leader(): string | undefined {
    return this.observedHolder;
  }

  /** The holder's advertised address (LEADER_ADDRESS_ANNOTATION), when another replica holds the Lease. */
  get leaderAddress(): string | undefined {
    const holder = this.observedHolder;
    if (!holder || holder === this.settings.identity) return undefined;
    return this.lease?.metadata?.annotations?.[LEADER_ADDRESS_ANNOTATION] || undefined;
  }

  /** Starts competing for the Lease in the background; returns at once. */
  start(): Promise<void> {
    this.loop ??= this.run();
    return Promise.resolve();
  }

  /** Stops competing, and releases the Lease if held (then calls onStoppedLeading). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    // Held per our last write, even if stop() came between taking it and calling onStartedLeading.
    if (this.observedHolder === this.settings.identity) await this.release();
    if (this.leading) this.stepDown('stopped');
  }

  close(): Promise<void> {
    return this.stop();
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    const s = this.settings;
    while (!this.stopped) {
      while (!this.stopped && !(await this.tryAcquireOrRenew(s.requestTimeoutMs))) {
        const wait = s.retryPeriodMs * (1 + s.random() * s.jitter);
        if (!(await pause(wait, this.stopping.signal))) return;
      }
      if (this.stopped) return;
      this.leading = true;
      this.logger.info({ lease: this.leaseName }, `leading: acquired Lease ${this.leaseName}`);
      this.options.onStartedLeading?.();
      await this.renewWhileLeading();
    }
  }

  /** Renews every retryPeriod; returns when stopped (still leading, stop() releases) or after stepping down. */
  private async renewWhileLeading(): Promise<void> {
    const s = this.settings;
    for (;;) {
      if (!(await pause(s.retryPeriodMs, this.stopping.signal))) return;
      const deadline = s.now() + s.renewDeadlineMs;
      let renewed = false;
      while (!renewed && !this.stopped && this.observedHolder === s.identity) {
        const left = deadline - s.now();
        if (left <= 0) break;
        renewed = await this.tryAcquireOrRenew(Math.min(s.requestTimeoutMs, left));
        if (
          !renewed &&
          !(await pause(Math.min(s.retryPeriodMs, Math.max(0, deadline - s.now())), this.stopping.signal))
        )
          break;
      }
      if (renewed) continue;
      if (this.stopped) return;
      const why =
        this.observedHolder === s.identity
          ? `could not renew Lease ${this.leaseName} within ${s.renewDeadlineMs} ms`
          : `Lease ${this.leaseName} is held by ${this.observedHolder || 'nobody'} now`;
      this.stepDown(why);
      return;
    }
  }

  private stepDown(why: string): void {
    this.leading = false;
    const level = this.stopped ? 'info' : 'warn';
    this.logger[level]({ lease: this.leaseName }, `stopped leading: ${why}`);
    this.options.onStoppedLeading?.();
  }

  private get leaseName(): string {
    return `${this.settings.namespace}/${this.settings.name}`;
  }

  /** One try: read the Lease, and take or renew it if it is ours to take. True when we hold it after. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const s = this.settings;
    const opts = requestOptions(timeoutMs, undefined, this.stopping.signal);
    const target = { name: s.name, namespace: s.namespace };
    const wallNow = Date.now();
    let current: V1Lease;
    try {
      current = await this.api.readNamespacedLease(target, opts);
    } catch (err) {
      if (httpCode(err) !== 404) return this.failed('read', err);
      const spec = specOf({
        holder: s.identity,
        durationSeconds: this.durationSeconds,
        acquireMs: wallNow,
        renewMs: wallNow,
        transitions: 0,
      });
      try {
        this.observe(
          await this.api.createNamespacedLease(
            {
              namespace: s.namespace,
              body: { metadata: this.#metadata({ name: s.name, namespace: s.namespace }), spec },
            },
            opts,
          ),
        );
        return true;
      } catch (createErr) {
        return this.failed('create', createErr); // 409: another candidate created it first
      }
    }
    const record = this.observe(current);
    const ours = record.holder === s.identity;
    const valid = this.observedAt + record.durationSeconds * 1000 > s.now();
    if (record.holder !== '' && !ours && valid) return false;
    const spec = specOf({
      holder: s.identity,
      durationSeconds: this.durationSeconds,
      acquireMs: ours && record.acquireTime ? Date.parse(record.acquireTime) : wallNow,
      renewMs: wallNow,
      transitions: ours ? record.transitions : record.transitions + 1,
    });
    try {
      // The read's resourceVersion travels in metadata: a write in between makes this a 409.
      const body = { ...current, metadata: this.#metadata(current.metadata ?? {}), spec };
      this.observe(await this.api.replaceNamespacedLease({ ...target, body }, opts));
      return true;
    } catch (err) {
      return this.failed('update', err);
    }
  }

  /** The Lease's metadata as this holder writes it: its advertised address, or none. */
  #metadata(meta: NonNullable<V1Lease['metadata']>): NonNullable<V1Lease['metadata']> {
    const address = this.options.advertise?.();
    const { [LEADER_ADDRESS_ANNOTATION]: _old, ...others } = meta.annotations ?? {};
    const annotations = address ? { ...others, [LEADER_ADDRESS_ANNOTATION]: address } : others;
    return { ...meta, annotations };
  }

  /** Gives the Lease up: no holder, so the next candidate to try takes it without waiting for expiry. */
  private async release(): Promise<void> {
    const s = this.settings;
    const lease = this.lease;
    if (!lease) return;
    const wallNow = Date.now();
    const record = recordOf(lease);
    const spec = specOf({
      holder: '',
      durationSeconds: 1,
      acquireMs: wallNow,
      renewMs: wallNow,
      transitions: record.transitions,
    });
    try {
      await this.api.replaceNamespacedLease(
        { name: s.name, namespace: s.namespace, body: { ...lease, spec } },
        requestOptions(s.requestTimeoutMs),
      );
      this.logger.info({ lease: this.leaseName }, `released Lease ${this.leaseName}`);
    } catch (err) {
      // Someone else wrote it since (409) or the API is away: it expires on its own after leaseDuration.
      this.logger.warn(
        { lease: this.leaseName },
        `could not release Lease ${this.leaseName}: ${failureText(err)}`,
      );
    }
  }

  /** Remembers a Lease read or written; the expiry clock restarts whenever its record changes. */
  private observe(lease: V1Lease): LeaseRecord {
    this.lease = lease;
    const record = recordOf(lease);
    const key = recordKey(record);
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedAt = this.settings.now();
    }
    if (record.holder !== this.observedHolder) {
      this.observedHolder = record.holder;
      this.options.onNewLeader?.(record.holder);
    }
    return record;
  }

  private failed(what: string, err: unknown): false {
    const code = httpCode(err);
    if (!this.stopped) {
      const text = code === 409 ? 'another candidate wrote it first' : failureText(err);
      this.logger.debug({ lease: this.leaseName, code }, `Lease ${this.leaseName} ${what}: ${text}`);
    }
    return false;
  }

  private get durationSeconds(): number {
    return Math.max(1, Math.round(this.settings.leaseDurationMs / 1000));
  }
}

/** client-go's checks (NewLeaderElector): otherwise two replicas could lead at once. */
function validate(s: Settings): void {
  const bad = (field: string, why: string) => {
    throw new MeshdnsError('MESHDNS_KUBE_OPTIONS', `LeaderElector option ${field}: ${why}`);
  };
  if (s.identity === '') bad('identity', 'is empty (set POD_NAME)');
  for (const f of ['leaseDurationMs', 'renewDeadlineMs', 'retryPeriodMs'] as const) {
    if (!(s[f] > 0)) bad(f, `${s[f]} is not a positive number of milliseconds`);
  }
  if (s.leaseDurationMs < 1000)
    bad('leaseDurationMs', `${s.leaseDurationMs} is under 1 s (the Lease counts whole seconds)`);
  if (s.leaseDurationMs <= s.renewDeadlineMs) {
    bad('leaseDurationMs', `${s.leaseDurationMs} must be greater than renewDeadlineMs ${s.renewDeadlineMs}`);
  }
  if (s.renewDeadlineMs <= s.jitter * s.retryPeriodMs) {
    bad(
      'renewDeadlineMs',
      `${s.renewDeadlineMs} must be greater than jitter × retryPeriodMs (${s.jitter * s.retryPeriodMs})`,
    );
  }
}
