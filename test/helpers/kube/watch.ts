// One watch connection: a chunked HTTP response of JSON lines `{"type", "object"}`, as the real server
// streams them. A stale resourceVersion gets 200 and then an ERROR event carrying a 410 Status — inside the
// stream, not as the HTTP code — which is what client-go and client-node look for before relisting.
import type { ServerResponse } from 'node:http';
import type { Selector } from './selectors.js';
import { KubeStatusError } from './status.js';
import type { Change, KubeObject, ObjectStore } from './store.js';

export interface WatchRequest {
  typeKey: string;
  /** Objects in this namespace only; undefined: all namespaces. */
  namespace?: string;
  selector: Selector;
  /** The query's resourceVersion: '' or '0' means "from now, after the current state as ADDED events". */
  resourceVersion: string;
  bookmarks: boolean;
  bookmarkIntervalMs: number;
  /** The query's timeoutSeconds: the server ends the stream then, and the client rewatches. */
  timeoutSeconds?: number;
  /** The object as this request's version shows it (apiVersion, kind). */
  render: (obj: KubeObject) => KubeObject;
  /** The current objects of the watched type, for a watch without a resourceVersion. */
  current: () => KubeObject[];
}

/** What the server's test controls can do to an open watch. */
export interface OpenWatch {
  /** Ends the stream as the server does at timeout or shutdown: the client sees a clean end. */
  end(): void;
  /** Cuts the connection mid-stream (a network fault): the client sees an error. */
  destroy(): void;
  /** Sends a BOOKMARK at the current resourceVersion now, if the client asked for bookmarks. */
  bookmark(): void;
}

type WatchEventType = Change['type'] | 'BOOKMARK' | 'ERROR';

export function serveWatch(
  res: ServerResponse,
  store: ObjectStore,
  w: WatchRequest,
  onClose: (open: OpenWatch) => void,
): OpenWatch {
  // A stream ended by end() stays subscribed until its 'close': changes made in between are not its own.
  const send = (type: WatchEventType, object: unknown) => {
    if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const matches = (o: KubeObject) =>
    (w.namespace === undefined || o.metadata.namespace === w.namespace) && w.selector(o);
  const deliver = (change: Change) => {
    if (change.typeKey !== w.typeKey) return;
    const type = eventType(change, matches);
    if (type) send(type, w.render(change.object));
  };
  const bookmark = () => {
    if (!w.bookmarks || res.writableEnded) return;
    const { apiVersion, kind } = w.render({ metadata: {} });
    send('BOOKMARK', { apiVersion, kind, metadata: { resourceVersion: String(store.resourceVersion) } });
  };

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  const timers: NodeJS.Timeout[] = [];
  let unsubscribe = () => {};
  const open: OpenWatch = { end: () => res.end(), destroy: () => res.destroy(), bookmark };
  const cleanup = () => {
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    onClose(open);
  };
  // A client that goes away closes the response too (req's own 'close' fires once its body is read).
  res.once('close', cleanup);

  let backlog: Change[];
  if (w.resourceVersion === '' || w.resourceVersion === '0') {
    for (const obj of w.current()) if (matches(obj)) send('ADDED', w.render(obj));
    backlog = [];
  } else {
    try {
      backlog = store.changesSince(Number(w.resourceVersion));
    } catch (err) {
      if (!(err instanceof KubeStatusError)) throw err;
      send('ERROR', err.status);
      res.end();
      return open;
    }
  }
  for (const change of backlog) deliver(change);
  unsubscribe = store.subscribe(deliver);
  if (w.bookmarks) timers.push(setInterval(bookmark, w.bookmarkIntervalMs));
  if (w.timeoutSeconds !== undefined) timers.push(setTimeout(() => res.end(), w.timeoutSeconds * 1000));
  return open;
}

/** A change as a selector watch sees it: an object leaving the selection is DELETED, one entering is ADDED. */
function eventType(change: Change, matches: (o: KubeObject) => boolean): Change['type'] | undefined {
  const now = matches(change.object);
  if (change.type !== 'MODIFIED' || change.previous === undefined) return now ? change.type : undefined;
  const before = matches(change.previous);
  if (before && now) return 'MODIFIED';
  if (before) return 'DELETED';
  return now ? 'ADDED' : undefined;
}
