// One watched kind: client-node's ListWatch (list, then watch from the list's resourceVersion; on 410
// Gone it relists and reports the objects that went away as deleted), restarted with backoff after a
// failure, which ListWatch itself does not do: it reports the error and stops.
import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { MeshdnsError } from '../../errors.js';
import { formatError } from '../../model/index.js';
import { Backoff } from './backoff.js';
import { apiVersionOf, collectionPath, type WatchedKind } from './kinds.js';
import { getJson } from './request.js';
import { KUBE_RETRY_MAX_MS } from './tuning.js';
import { BookmarkWatch } from './watch.js';

export interface KindInformerOptions {
  kc: KubeConfig;
  kind: WatchedKind;
  version: string;
  random: () => number;
  /** Aborted when the source closes: ends lists and watches in flight. */
  signal: AbortSignal;
  logger?: Logger;
  /** An object came, changed, or (`gone`) went. */
  onObject: (kind: WatchedKind, obj: KubernetesObject, gone: boolean) => void;
}

export class KindInformer {
  readonly kind: WatchedKind;
  readonly version: string;
  readonly #opts: KindInformerOptions;
  readonly #lw: ListWatch<KubernetesObject>;
  readonly #backoff: Backoff;
  readonly #what: string;
  #retryTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  /** The try in progress failed (its start() resolves anyway: ListWatch reports errors by event). */
  #attemptFailed = false;
  /** A failure was logged at warn: the rest of this outage logs at debug, its end at info. */
  #outage = false;
  #upSince: number | undefined;
  #synced = false;
  #settle: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(opts: KindInformerOptions) {
    this.#opts = opts;
    this.kind = opts.kind;
    this.version = opts.version;
    this.#backoff = new Backoff(opts.random);
    const { kc, kind, version, signal } = opts;
    const path = collectionPath(kind, version);
    this.#what = `${kind.kind} (${path})`;
    const apiVersion = apiVersionOf(kind, version);
    const fieldSelector = kind.name === undefined ? undefined : `metadata.name=${kind.name}`;
    const list = async () => {
      const query: Record<string, string> = fieldSelector === undefined ? {} : { fieldSelector };
      const answer = (await getJson(kc, path, query, signal)) as KubernetesListObject<KubernetesObject>;
      // A list's items come without apiVersion and kind; watch events carry them.
      for (const item of answer.items ?? []) {
        item.apiVersion = apiVersion;
        item.kind = kind.kind;
      }
      return answer;
    };
    const watch = new BookmarkWatch(kc, opts.random, signal);
    this.#lw = new ListWatch(path, watch, list, false, undefined, fieldSelector);
    this.#lw.on('add', (o) => opts.onObject(kind, o, false));
    this.#lw.on('update', (o) => opts.onObject(kind, o, false));
    this.#lw.on('delete', (o) => opts.onObject(kind, o, true));
    this.#lw.on('error', (e) => this.#failed(e));
  }

  /** Lists, then watches; resolves once the list is in (failures are retried), rejects if closed first. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
      this.#attempt();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#lw.stop();
    if (!this.#synced) {
      const why = `${this.#what}: closed before it was listed`;
      this.#settle?.reject(new MeshdnsError('MESHDNS_KUBE_API', why));
    }
    await this.#running;
  }

  #attempt(): void {
    if (this.#closed) return;
    this.#attemptFailed = false;
    this.#running = this.#lw.start().then(
      () => this.#started(),
      (e) => this.#failed(e),
    );
  }

  #started(): void {
    if (this.#closed || this.#attemptFailed) return;
    this.#upSince = Date.now();
    if (this.#outage)
      this.#opts.logger?.info({ kind: this.kind.kind }, `${this.#what}: listing and watching again`);
    this.#outage = false;
    if (!this.#synced) {
      this.#synced = true;
      this.#settle?.resolve();
    }
  }

  #failed(e: unknown): void {
    // Stopping a watch aborts its request, which ListWatch reports as an error too.
    if (this.#closed) return;
    this.#attemptFailed = true;
    // A watch that ran for a while starts its backoff over; one that keeps failing at once does not.
    const ranLong = this.#upSince !== undefined && Date.now() - this.#upSince >= KUBE_RETRY_MAX_MS;
    this.#upSince = undefined;
    if (ranLong) this.#backoff.reset();
    const retryMs = Math.round(this.#backoff.next());
    const why = e instanceof Error ? formatError(e) : String(e);
    const log = { kind: this.kind.kind, retryMs };
    if (this.#outage) this.#opts.logger?.debug(log, `${this.#what}: ${why}; retrying`);
    else this.#opts.logger?.warn(log, `${this.#what}: ${why}; keeping what was read, retrying`);
    this.#outage = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#attempt(), retryMs);
  }
}
