// Persists VIPs in each ServiceEntry's `status.addresses` (issue 10 item 2; Istio keeps its auto-allocated
// addresses there too), so the cluster is the only store and a restarted or new leader reads them back.
//
// The rule that keeps two writers from clobbering each other: the allocator's value is written only over
// the value the allocator itself read. Each write first patches with a `test` of the value the informer
// showed (no GET: that is the value the allocation read); if that test fails, it reads the entry, and
//   - stored = desired: nothing to do;
//   - stored ≠ what the allocation was computed from: another writer (an old leader, a user) changed it
//     since; it is left alone, and the informer's update of that entry makes the next allocation start from
//     it (status is the allocator's source of truth), so the writer is called again with a value that read it;
//   - otherwise a JSON patch `test`s the value just read and replaces it. A 422 (the test failed: a write
//     landed between our read and our patch) or a 409 starts over with a fresh read, a bounded number of
//     times with jittered backoff.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { HostVips, VipRanges } from '../../allocate/index.js';
import { DEFAULTS } from '../../defaults.js';
import { MeshdnsError } from '../../errors.js';
import { backoffDelay } from '../../xds/index.js';
import { KubeHttp } from './api-http.js';
import { failureText, httpCode, JSON_PATCH, pause, retryable } from './requests.js';
import {
  addressesOf,
  addressesPatch,
  desiredAddresses,
  keptOutside,
  readStatus,
  type StatusAddress,
  type StatusRead,
  sameAddresses,
} from './status-patch.js';

export const SERVICE_ENTRY_GROUP = 'networking.istio.io';
export const SERVICE_ENTRY_PLURAL = 'serviceentries';

export interface StatusWriterOptions {
  /** The ServiceEntry version the API serves: `v1`, or `v1beta1` on Istio before 1.22 (ask discovery once). */
  version?: 'v1' | 'v1beta1';
  /** Writes in flight at once. */
  maxInFlight?: number;
  /** Tries per write (re-reads after a failed test or a conflict included). */
  maxAttempts?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  requestTimeoutMs?: number;
  /**
   * How long the credentials and TLS settings client-node resolved from the kubeconfig are used before
   * they are resolved again (a 401 resolves them at once). Default 10 s; tests pass 0.
   */
  resolveTtlMs?: number;
  /** Checked before every patch: only the Lease holder writes (DESIGN.md: one writer per store). */
  isLeader?: () => boolean;
  /** For the backoff's jitter; Math.random by default. */
  random?: () => number;
  /**
   * The VIP ranges allocated from: addresses in status outside them are kept there (issue 8's rule for the
   * state file). Without it, status holds exactly the allocation.
   */
  ranges?: VipRanges;
  /**
   * Checked before each write starts: a promise while writes must wait (the controller is pushing a change
   * to its agents, which goes first), undefined when they may go. Writes already started carry on.
   */
  gate?: WriteGate;
}

/** When status writes may start (controller/pacer.ts's StatusGate). */
export interface WriteGate {
  closed(): Promise<void> | undefined;
}

/**
 * What the informer's copy says is stored, standing in for a read: the entry as we wrote it, or with no
 * status at all. A status the model does not keep (conditions, other fields, another spelling of a host)
 * fails the patch's `test` and is read for real.
 */
function readFromInformer(seen: readonly StatusAddress[]): StatusRead {
  if (seen.length === 0) return { kind: 'no-status' };
  return { kind: 'addresses', raw: seen.map((a) => ({ value: a.value, host: a.host })) };
}

/** How one queued write ended. */
export type WriteOutcome = 'written' | 'unchanged' | 'superseded' | 'gone' | 'not-leader' | 'failed';

interface Job {
  namespace: string;
  name: string;
  desired: StatusAddress[];
  /** status.addresses as the allocation saw it (the entry it was computed from). */
  seen: StatusAddress[];
}

type Settings = Required<Omit<StatusWriterOptions, 'isLeader' | 'ranges' | 'gate' | 'resolveTtlMs'>> &
  Pick<StatusWriterOptions, 'isLeader' | 'ranges' | 'gate' | 'resolveTtlMs'>;

export class StatusWriter {
  /**
   * Plain requests with the kubeconfig's credentials over kept-alive connections: client-node's
   * ObservableAPI cost the event loop that pushes a user's change 100-200 ms a second of writes.
   */
  private readonly http: KubeHttp;
  private readonly settings: Settings;
  /** Latest write per entry not started yet, in arrival order: a newer sync replaces it (latest wins). */
  private readonly pending = new Map<string, Job>();
  private readonly running = new Set<string>();
  private readonly stop = new AbortController();
  private idleWaiters: (() => void)[] = [];
  /** Waiting for the gate to open (one wait, however many writes are queued). */
  private gated = false;
  /** How many writes ended each way, for metrics and tests. */
  readonly counts: Record<WriteOutcome, number> = {
    written: 0,
    unchanged: 0,
    superseded: 0,
    gone: 0,
    'not-leader': 0,
    failed: 0,
  };

  constructor(
    kc: KubeConfig,
    private readonly logger: Logger,
    options: StatusWriterOptions = {},
  ) {
    const d = DEFAULTS.kube;
    this.settings = {
      version: options.version ?? 'v1',
      maxInFlight: options.maxInFlight ?? d.statusWritesInFlight,
      maxAttempts: options.maxAttempts ?? d.statusWriteAttempts,
      retryInitialMs: options.retryInitialMs ?? d.retryInitialMs,
      retryMaxMs: options.retryMaxMs ?? d.retryMaxMs,
      requestTimeoutMs: options.requestTimeoutMs ?? d.requestTimeoutMs,
      random: options.random ?? Math.random,
      isLeader: options.isLeader,
      ranges: options.ranges,
      gate: options.gate,
      resolveTtlMs: options.resolveTtlMs,
    };
    this.http = new KubeHttp(kc, {
      maxSockets: this.settings.maxInFlight,
      timeoutMs: this.settings.requestTimeoutMs,
      signal: this.stop.signal,
      ...(this.settings.resolveTtlMs === undefined ? {} : { resolveTtlMs: this.settings.resolveTtlMs }),
    });
    for (const field of ['maxInFlight', 'maxAttempts'] as const) {
      const v = this.settings[field];
      if (!Number.isInteger(v) || v < 1) {
        throw new MeshdnsError(
          'MESHDNS_KUBE_OPTIONS',
          `StatusWriter option ${field}: ${v} is not an integer ≥ 1`,
        );
      }
    }
  }

  /**
   * Queues a write for every ServiceEntry whose VIPs in `hosts` differ from its `status.addresses`, and drops
   * queued writes of entries that now match. `hosts`: an Allocation's `hosts` (all of them, or every host of
   * each entry it names). Returns at once; writes run in the background. Returns how many were queued.
   */
  sync(hosts: readonly HostVips[]): number {
    if (this.stop.signal.aborted) return 0;
    const byEntry = new Map<string, HostVips[]>();
    for (const h of hosts) {
      const k = `${h.namespace}/${h.name}`;
      const list = byEntry.get(k);
      if (list) list.push(h);
      else byEntry.set(k, [h]);
    }
    let queued = 0;
    for (const [k, list] of byEntry) {
      const { namespace, name, entry } = list[0]!;
      const seen = entry.statusAddresses;
      const ours = desiredAddresses(list);
      const { ranges } = this.settings;
      // Status as we wrote it (the usual case) has nothing outside the range: no need to look.
      const desired =
        ranges && !sameAddresses(ours, seen)
          ? [...ours, ...keptOutside(seen, ours, entry.hosts, ranges)]
          : ours;
      if (sameAddresses(desired, seen)) {
        this.pending.delete(k);
        continue;
      }
      this.pending.delete(k); // re-inserted last: arrival order, latest value
      this.pending.set(k, { namespace, name, desired, seen: [...seen] });
      queued++;
    }
    this.pump();
    return queued;
  }

  /** Writes started and not yet ended. */
  get inFlight(): number {
    return this.running.size;
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.pending.size === 0 && this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops queued writes and cuts retry waits and requests in flight short. */
  async close(): Promise<void> {
    this.stop.abort();
    this.pending.clear();
    await this.idle();
    this.http.close();
  }

  private pump(): void {
    if (this.gated || this.pending.size === 0) return;
    const closed = this.settings.gate?.closed();
    if (closed) {
      this.gated = true;
      void closed.then(() => {
        this.gated = false;
        this.pump();
      });
      return;
    }
    for (const [k, job] of this.pending) {
      if (this.running.size >= this.settings.maxInFlight) break;
      if (this.running.has(k)) continue; // one write per entry at a time; the newer one waits its turn
      this.pending.delete(k);
      this.running.add(k);
      void this.write(job).then((outcome) => {
        this.counts[outcome]++;
        this.running.delete(k);
        this.pump();
        if (this.pending.size === 0 && this.running.size === 0) {
          for (const w of this.idleWaiters.splice(0)) w();
        }
      });
    }
  }

  private async write(job: Job): Promise<WriteOutcome> {
    const s = this.settings;
    const where = `ServiceEntry ${job.namespace}/${job.name} status.addresses`;
    const log = this.logger.child({ serviceEntry: `${job.namespace}/${job.name}` });
    let lastFailure = '';
    let tries = 0;
    // The first patch tests what the informer showed (what the allocation was computed from) without a GET;
    // only when that test fails is the entry read.
    let read: StatusRead | undefined = readFromInformer(job.seen);
    // A failed test of that guess is no contention and costs no try: the read follows at once.
    let guessFailed = 0;
    for (let attempt = 0; attempt < s.maxAttempts + guessFailed; attempt++) {
      tries = attempt + 1 - guessFailed;
      const guessing = attempt === 0;
      if (attempt > guessFailed) {
        const wait = backoffDelay(attempt - 1 - guessFailed, s.retryInitialMs, s.retryMaxMs, s.random);
        if (!(await pause(wait, this.stop.signal))) return 'failed';
      }
      if (s.isLeader && !s.isLeader()) return 'not-leader';
      try {
        if (!read) {
          read = readStatus(await this.http.get(this.statusPath(job)));
          const stored = addressesOf(read);
          if (sameAddresses(stored, job.desired)) return 'unchanged';
          if (!sameAddresses(stored, job.seen)) {
            log.info(
              { stored, desired: job.desired },
              `${where} was changed by another writer since the allocation read it; left as stored (the next allocation starts from it)`,
            );
            return 'superseded';
          }
          if (s.isLeader && !s.isLeader()) return 'not-leader';
        }
        await this.http.patch(
          `${this.statusPath(job)}?fieldManager=meshdns-controller`,
          addressesPatch(read, job.desired),
          JSON_PATCH,
        );
        log.debug({ addresses: job.desired }, `${where} written`);
        return 'written';
      } catch (err) {
        read = undefined;
        const code = httpCode(err);
        // Deleted meanwhile: its VIPs are the allocator's business (held for the grace period), not status's.
        if (code === 404) return 'gone';
        lastFailure = `${code || 'no answer'}: ${failureText(err)}`;
        // 422 is a failed `test` (a write landed since the value tested was read): read again.
        if (code !== 422 && !retryable(code)) break;
        if (guessing && code === 422) guessFailed = 1;
        log.debug({ attempt: attempt + 1, code }, `${where}: ${lastFailure}; reading it again`);
      }
    }
    if (this.stop.signal.aborted) return 'failed';
    const err = new MeshdnsError(
      'MESHDNS_KUBE_STATUS',
      `${where}: not written after ${tries} ${tries === 1 ? 'try' : 'tries'} (last: ${lastFailure}); the next sync() retries it`,
    );
    log.warn({ code: err.code }, err.message);
    return 'failed';
  }

  private statusPath(job: Job): string {
    const { version } = this.settings;
    const ns = encodeURIComponent(job.namespace);
    const name = encodeURIComponent(job.name);
    return `/apis/${SERVICE_ENTRY_GROUP}/${version}/namespaces/${ns}/${SERVICE_ENTRY_PLURAL}/${name}/status`;
  }
}
