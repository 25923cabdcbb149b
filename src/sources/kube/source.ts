// The Kubernetes API as a source of resources, with ManifestSource's contract (the controller takes
// either): informers list and watch each kind, bursts of events become one snapshot, and a watch that
// fails is resumed, or relisted after 410 Gone, so nothing changed while it was away is lost.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { DEFAULTS } from '../../defaults.js';
import { MeshdnsError } from '../../errors.js';
import { emptyResources, formatError, type Resources } from '../../model/index.js';
import type { Build, SnapshotChange } from '../index.js';
import { Backoff } from './backoff.js';
import { servedVersion } from './discovery.js';
import { KindInformer } from './informer.js';
import { apiVersionOf, type WatchedKind, watchedKinds } from './kinds.js';
import { KubeObjects } from './objects.js';
import { KUBE_DEBOUNCE_MAX_PERIODS, KUBE_DISCOVERY_RECHECK_MS } from './tuning.js';

export interface KubeSourceOptions {
  kubeConfig: KubeConfig;
  /** Where Istio's `istio` ConfigMap (key `mesh`) is read. */
  istioNamespace: string;
  /** Quiet time after the last event before a snapshot is made. */
  debounceMs?: number;
  logger?: Logger;
  /** Jitter for retry delays and watch timeouts; default Math.random. */
  random?: () => number;
  /** How often discovery is asked again for a kind it did not serve (a CRD installed after start). */
  discoveryRecheckMs?: number;
  /** As ManifestSource's: every snapshot, first before `start()` resolves. `failedFiles` is always empty. */
  onChange: (
    snapshot: Resources,
    errors: MeshdnsError[],
    failedFiles: ReadonlySet<string>,
    change: SnapshotChange,
  ) => void;
}

function closedError(): MeshdnsError {
  return new MeshdnsError('MESHDNS_KUBE_API', 'the Kubernetes source was closed before it had read the API');
}

export class KubeSource {
  readonly #opts: KubeSourceOptions;
  readonly #debounceMs: number;
  readonly #random: () => number;
  readonly #objects = new KubeObjects();
  readonly #informers: KindInformer[] = [];
  readonly #versions = new Map<string, string>();
  /** Ends requests in flight (lists, discovery, watches) and the waits between retries. */
  readonly #abort = new AbortController();
  #current: Build | undefined;
  #started = false;
  #closed = false;
  #debounceTimer: NodeJS.Timeout | undefined;
  #pendingSince: number | undefined;
  #recheckTimer: NodeJS.Timeout | undefined;

  constructor(opts: KubeSourceOptions) {
    this.#opts = opts;
    this.#debounceMs = opts.debounceMs ?? DEFAULTS.kubeDebounceMs;
    this.#random = opts.random ?? Math.random;
  }

  /**
   * Asks discovery which kinds are served, lists each, publishes the first snapshot. Failures are
   * retried with backoff (the API may come up after us); rejects only if closed first.
   */
  async start(): Promise<void> {
    const found = await this.#discover(watchedKinds(this.#opts.istioNamespace));
    if (this.#closed) throw closedError();
    const missing: WatchedKind[] = [];
    const informers: KindInformer[] = [];
    for (const [kind, version] of found) {
      if (version === undefined) missing.push(kind);
      else informers.push(this.#informer(kind, version));
    }
    await Promise.all(informers.map((i) => i.start()));
    if (this.#closed) throw closedError();
    this.#started = true;
    this.#publish();
    if (missing.length > 0) this.#recheck(missing);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#debounceTimer);
    clearTimeout(this.#recheckTimer);
    // Each informer is marked closed before the abort, so the aborted requests are not taken for failures.
    const closing = this.#informers.map((i) => i.close());
    this.#abort.abort();
    await Promise.all(closing);
  }

  /**
   * ManifestSource's SIGHUP hook, so the controller can hold either source: watches see every change
   * as it is made, and a failed one relists by itself, so there is nothing to read again.
   */
  rescan(): void {}

  /** The version read of a kind (`ServiceEntry`: `v1` or `v1beta1`), once discovery found it served. */
  servedVersion(kind: string): string | undefined {
    return this.#versions.get(kind);
  }

  snapshot(): Resources {
    return this.#current?.resources ?? emptyResources();
  }

  errors(): MeshdnsError[] {
    return this.#current?.errors ?? [];
  }

  /** Which kinds are served, and in which version; retried until it answers. */
  async #discover(kinds: WatchedKind[]): Promise<[WatchedKind, string | undefined][]> {
    const backoff = new Backoff(this.#random);
    let logged = false;
    for (;;) {
      if (this.#closed) throw closedError();
      try {
        const ask = (k: WatchedKind) => servedVersion(this.#opts.kubeConfig, k, this.#abort.signal);
        const versions = await Promise.all(kinds.map(ask));
        return kinds.map((k, i) => {
          this.#noteDiscovered(k, versions[i]);
          return [k, versions[i]];
        });
      } catch (e) {
        if (this.#closed) throw closedError();
        const retryMs = Math.round(backoff.next());
        const why = `API discovery failed: ${e instanceof Error ? formatError(e) : String(e)}; retrying`;
        if (logged) this.#opts.logger?.debug({ retryMs }, why);
        else this.#opts.logger?.warn({ retryMs }, why);
        logged = true;
        await sleep(retryMs, undefined, { signal: this.#abort.signal }).catch(() => {});
      }
    }
  }

  #noteDiscovered(kind: WatchedKind, version: string | undefined): void {
    if (!kind.discover) return;
    const log = this.#opts.logger;
    const what = { kind: kind.kind };
    if (version !== undefined) {
      log?.debug(what, `reading ${apiVersionOf(kind, version)} ${kind.kind}`);
    } else if (kind.kind === 'ServiceEntry') {
      log?.info(what, 'the API serves no ServiceEntry (is Istio installed?); asking again from time to time');
    } else {
      // Kyma's Istio CR is absent from every cluster that is not Kyma: nothing to say above debug.
      log?.debug(what, `the API serves no ${kind.group} ${kind.kind}`);
    }
  }

  #informer(kind: WatchedKind, version: string): KindInformer {
    this.#versions.set(kind.kind, version);
    const informer = new KindInformer({
      kc: this.#opts.kubeConfig,
      kind,
      version,
      random: this.#random,
      signal: this.#abort.signal,
      ...(this.#opts.logger ? { logger: this.#opts.logger } : {}),
      onObject: (k, obj, gone) => this.#onObject(k, obj, gone),
    });
    this.#informers.push(informer);
    return informer;
  }

  // A CRD installed after start (Istio, Kyma) is picked up: its informer starts and its objects arrive as events.
  #recheck(missing: WatchedKind[]): void {
    this.#recheckTimer = setTimeout(async () => {
      const still: WatchedKind[] = [];
      for (const kind of missing) {
        let version: string | undefined;
        try {
          version = await servedVersion(this.#opts.kubeConfig, kind, this.#abort.signal);
        } catch (e) {
          this.#opts.logger?.debug({ kind: kind.kind, err: String(e) }, 'API discovery failed; asking later');
        }
        if (this.#closed) return;
        if (version === undefined) {
          still.push(kind);
          continue;
        }
        // Its failures are retried inside; it rejects only when closed, which nothing waits for.
        this.#informer(kind, version)
          .start()
          .catch(() => {});
      }
      if (still.length > 0) this.#recheck(still);
    }, this.#opts.discoveryRecheckMs ?? KUBE_DISCOVERY_RECHECK_MS);
  }

  #onObject(kind: WatchedKind, obj: KubernetesObject, gone: boolean): void {
    if (this.#closed) return;
    if (gone) this.#objects.delete(kind, obj);
    else {
      const ignored = this.#objects.set(kind, obj);
      if (ignored) this.#opts.logger?.debug(`k8s ${ignored} ${obj.metadata?.name ?? ''}: not ours, ignored`);
    }
    if (this.#started && this.#objects.dirty) this.#schedule();
  }

  // Debounced: a rollout's burst of EndpointSlice changes is one snapshot. Events that never stop
  // still get a snapshot every KUBE_DEBOUNCE_MAX_PERIODS.
  #schedule(): void {
    const now = Date.now();
    this.#pendingSince ??= now;
    if (this.#debounceTimer && now - this.#pendingSince >= this.#debounceMs * KUBE_DEBOUNCE_MAX_PERIODS)
      return;
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      this.#pendingSince = undefined;
      if (!this.#closed && this.#objects.dirty) this.#publish();
    }, this.#debounceMs);
  }

  #publish(): void {
    const before = new Set(this.#current?.errors.map(formatError));
    this.#current = this.#objects.build();
    for (const e of this.#current.errors) {
      if (!before.has(formatError(e))) this.#opts.logger?.warn({ code: e.code }, e.message);
    }
    const { resources, errors, seq, delta } = this.#current;
    try {
      this.#opts.onChange(resources, errors, new Set(), { seq, ...(delta ? { delta } : {}) });
    } catch (e) {
      this.#opts.logger?.error({ err: e }, 'kube source onChange handler failed');
    }
  }
}
