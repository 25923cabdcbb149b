// client-node's Watch with what its ListWatch leaves out: bookmarks (so a quiet type's resourceVersion
// keeps up and a rewatch after a drop is not answered 410), a server-side timeout (so a connection that
// died silently is replaced), an ERROR event other than 410 ending the watch as a failure (so it is
// retried with backoff, not at once in a loop), and an abort signal that also reaches a watch whose
// request was still on its way when the source closed.
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import { KubeRequestError } from './request.js';
import { KUBE_WATCH_TIMEOUT_MIN_S } from './tuning.js';

type Query = Record<string, string | number | boolean | undefined>;
// biome-ignore lint/suspicious/noExplicitAny: client-node's own callback type
type Callback = (phase: string, apiObj: any, watchObj?: any) => void;

export class BookmarkWatch extends Watch {
  readonly #random: () => number;
  readonly #signal: AbortSignal;

  constructor(kc: KubeConfig, random: () => number, signal: AbortSignal) {
    super(kc);
    this.#random = random;
    this.#signal = signal;
  }

  override async watch(
    path: string,
    query: Query,
    callback: Callback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let controller: AbortController | undefined;
    let failure: KubeRequestError | undefined;
    const abort = () => controller?.abort();
    this.#signal.addEventListener('abort', abort, { once: true });
    const onEvent: Callback = (phase, obj, raw) => {
      // A 410 makes ListWatch relist by itself; any other Status in the stream is a failure.
      if (phase === 'ERROR' && obj?.code !== 410) {
        const why = typeof obj?.message === 'string' ? obj.message : JSON.stringify(obj);
        failure ??= new KubeRequestError(`watch ${path}: ${why}`, obj?.code);
      }
      callback(phase, obj, raw);
    };
    const finish = (err: unknown) => {
      this.#signal.removeEventListener('abort', abort);
      done(err ?? failure ?? null);
    };
    const timeoutSeconds = KUBE_WATCH_TIMEOUT_MIN_S + Math.floor(this.#random() * KUBE_WATCH_TIMEOUT_MIN_S);
    const params = { ...query, allowWatchBookmarks: true, timeoutSeconds };
    try {
      controller = await super.watch(path, params, onEvent, finish);
    } catch (e) {
      this.#signal.removeEventListener('abort', abort);
      throw e;
    }
    if (this.#signal.aborted) controller.abort();
    return controller;
  }
}
