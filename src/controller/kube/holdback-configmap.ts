// Where a cluster keeps the VIPs that status.addresses cannot (issue 14 item 4): a deleted ServiceEntry has
// no status, so the VIPs of absent entries (grace period) and the VIPs held back from every host live in one
// ConfigMap in the controller's own namespace, beside its Lease, written by the Lease holder only.
//
// Why a ConfigMap and not annotations on the Lease: the leader rewrites the Lease every retry period (2 s),
// and a hold-back write in the same object would race every renewal (a 409 on either side); Lease
// annotations are also capped at 256 KiB together, a ConfigMap holds 1 MiB. Its content is the state file's
// format (version, allocations, holdback), so `kubectl get cm meshdns-vip-holdback -o yaml` reads as the
// state file does, and one parser checks both.
//
// One writer, never over a value it did not read: each patch `test`s the resourceVersion last read, then
// replaces `data`. A failed test (another writer: a leader that lost its Lease and did not know yet) or a
// conflict re-reads and writes again, a bounded number of times; the Lease holder's view wins.
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { type HeldBackVip, parseState, type StoredAllocation, serializeState } from '../../allocate/index.js';
import { DEFAULTS } from '../../defaults.js';
import { MeshdnsError } from '../../errors.js';
import { backoffDelay } from '../../xds/index.js';
import type { StoredState } from '../index.js';
import { failureText, httpCode, JSON_PATCH, pause, requestOptions, retryable } from './requests.js';

/** The ConfigMap's key holding the state. */
export const HOLDBACK_KEY = 'state.json';

export interface HoldbackConfigMapOptions {
  /** The controller's own namespace (POD_NAMESPACE), where its Lease is. */
  namespace: string;
  name?: string;
  /** Checked before every write: only the Lease holder writes. */
  isLeader?: () => boolean;
  maxAttempts?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  requestTimeoutMs?: number;
  random?: () => number;
}

/** What was last read or written: the resourceVersion a patch tests, and the text it held. */
type Seen = { resourceVersion: string; text: string | undefined } | 'missing';

export class HoldbackConfigMap {
  readonly #api: CoreV1Api;
  readonly #logger: Logger;
  readonly #opts: Required<Omit<HoldbackConfigMapOptions, 'isLeader'>> &
    Pick<HoldbackConfigMapOptions, 'isLeader'>;
  readonly #stop = new AbortController();
  #seen: Seen | undefined;
  /** The text last written or queued: an unchanged state is not written again. */
  #wanted: string | undefined;
  #queue: Promise<void> = Promise.resolve();
  /** How writes ended, for tests and logs. */
  readonly counts = { written: 0, created: 0, reread: 0, failed: 0, 'not-leader': 0 };

  constructor(kc: KubeConfig, logger: Logger, opts: HoldbackConfigMapOptions) {
    this.#api = kc.makeApiClient(CoreV1Api);
    this.#logger = logger;
    const d = DEFAULTS.kube;
    this.#opts = {
      namespace: opts.namespace,
      name: opts.name ?? d.holdbackConfigMap,
      isLeader: opts.isLeader,
      maxAttempts: opts.maxAttempts ?? d.statusWriteAttempts,
      retryInitialMs: opts.retryInitialMs ?? d.retryInitialMs,
      retryMaxMs: opts.retryMaxMs ?? d.retryMaxMs,
      requestTimeoutMs: opts.requestTimeoutMs ?? d.requestTimeoutMs,
      random: opts.random ?? Math.random,
    };
  }

  /** `namespace/name`, for messages. */
  get where(): string {
    return `ConfigMap ${this.#opts.namespace}/${this.#opts.name}`;
  }

  /**
   * The stored state; none when the ConfigMap does not exist. Bad records are skipped and returned as
   * errors. Throws MESHDNS_KUBE_HOLDBACK when it cannot be read (starting without it would hand held-back
   * VIPs to new entries) or holds a version this meshdns does not read.
   */
  async load(): Promise<{ state: StoredState; errors: MeshdnsError[] }> {
    let seen: Seen;
    try {
      seen = await this.#read();
    } catch (err) {
      const why = `${this.where}: cannot read the VIPs held back (${failureText(err)}); without them a deleted entry's VIP could go to a new one. Check the API and the controller's Role for configmaps get`;
      throw new MeshdnsError('MESHDNS_KUBE_HOLDBACK', why, { cause: err });
    }
    this.#seen = seen;
    const empty = { state: { allocations: [], holdback: [] }, errors: [] };
    if (seen === 'missing' || seen.text === undefined) return empty;
    const file = `${this.where} key ${HOLDBACK_KEY}`;
    let parsed: ReturnType<typeof parseState>;
    try {
      parsed = parseState(seen.text, file);
    } catch (err) {
      const why = `${(err as Error).message.replace(/ Run the meshdns.*$/, '')} Run the meshdns that wrote it, or delete the ConfigMap to start without held-back VIPs`;
      throw new MeshdnsError('MESHDNS_KUBE_HOLDBACK', why, { cause: err });
    }
    if ('damaged' in parsed) {
      const why = `${file} ${parsed.damaged}; no VIP is held back, and it is rewritten at the next change`;
      return { ...empty, errors: [new MeshdnsError('MESHDNS_KUBE_HOLDBACK', why)] };
    }
    this.#wanted = seen.text;
    return {
      state: { allocations: parsed.allocations, holdback: parsed.holdback },
      errors: parsed.problems.map((p) => new MeshdnsError('MESHDNS_KUBE_HOLDBACK', `${file}: ${p}`)),
    };
  }

  /** Queues a write of the absent entries' allocations and the held-back VIPs, when they changed. */
  save(held: readonly StoredAllocation[], holdback: readonly HeldBackVip[]): void {
    if (this.#stop.signal.aborted) return;
    const text = serializeState(held, holdback);
    // Nothing stored and nothing to keep: no ConfigMap made for an empty state.
    if (text === this.#wanted || (this.#wanted === undefined && held.length === 0 && holdback.length === 0))
      return;
    this.#wanted = text;
    this.#queue = this.#queue.then(() => this.#write(text));
  }

  /** Resolves once every queued write is done. */
  idle(): Promise<void> {
    return this.#queue;
  }

  /** Cuts retries short and waits for the write in flight. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#queue;
  }

  async #write(text: string): Promise<void> {
    // A later save() queued a newer state: this one would only be overwritten.
    if (text !== this.#wanted) return;
    const o = this.#opts;
    let lastFailure = '';
    for (let attempt = 0; attempt < o.maxAttempts; attempt++) {
      if (attempt > 0) {
        const wait = backoffDelay(attempt - 1, o.retryInitialMs, o.retryMaxMs, o.random);
        if (!(await pause(wait, this.#stop.signal))) return;
      }
      if (o.isLeader && !o.isLeader()) {
        this.counts['not-leader']++;
        // Not ours to write now: a later leadership writes the state it has then.
        this.#wanted = undefined;
        return;
      }
      try {
        this.#seen ??= await this.#read();
        const seen = this.#seen;
        if (seen === 'missing') {
          this.#seen = seenOf(await this.#api.createNamespacedConfigMap(this.#create(text), this.#options()));
          this.counts.created++;
          return;
        }
        if (seen.text === text) return;
        const body = [
          { op: 'test', path: '/metadata/resourceVersion', value: seen.resourceVersion },
          { op: 'add', path: '/data', value: { [HOLDBACK_KEY]: text } },
        ];
        const patched = await this.#api.patchNamespacedConfigMap(
          { name: o.name, namespace: o.namespace, body },
          this.#options(JSON_PATCH),
        );
        this.#seen = seenOf(patched);
        this.counts.written++;
        return;
      } catch (err) {
        this.#seen = undefined;
        const code = httpCode(err);
        lastFailure = `${code || 'no answer'}: ${failureText(err)}`;
        // 422: the resourceVersion tested is gone (another writer); 404: deleted; 409: created meanwhile.
        if (code === 422 || code === 404 || code === 409) this.counts.reread++;
        else if (!retryable(code)) break;
        this.#logger.debug({ attempt: attempt + 1, code }, `${this.where}: ${lastFailure}; reading it again`);
      }
    }
    if (this.#stop.signal.aborted) return;
    this.counts.failed++;
    this.#wanted = undefined; // the next save() tries again, whatever it holds
    const err = new MeshdnsError(
      'MESHDNS_KUBE_HOLDBACK',
      `${this.where}: the VIPs held back were not written after ${o.maxAttempts} tries (last: ${lastFailure}); the next change retries`,
    );
    this.#logger.warn({ code: err.code }, err.message);
  }

  async #read(): Promise<Seen> {
    try {
      const cm = await this.#api.readNamespacedConfigMap(
        { name: this.#opts.name, namespace: this.#opts.namespace },
        this.#options(),
      );
      return seenOf(cm);
    } catch (err) {
      if (httpCode(err) === 404) return 'missing';
      throw err;
    }
  }

  #create(text: string) {
    const { name, namespace } = this.#opts;
    const labels = { 'app.kubernetes.io/name': 'meshdns-controller', 'app.kubernetes.io/part-of': 'meshdns' };
    return { namespace, body: { metadata: { name, namespace, labels }, data: { [HOLDBACK_KEY]: text } } };
  }

  #options(contentType?: string) {
    return requestOptions(this.#opts.requestTimeoutMs, contentType, this.#stop.signal);
  }
}

function seenOf(cm: V1ConfigMap): Seen {
  return { resourceVersion: cm.metadata?.resourceVersion ?? '', text: cm.data?.[HOLDBACK_KEY] };
}
