// A Kubernetes API test server: the real HTTP protocol (discovery, list, get, create, update, patch, delete,
// chunked watch with bookmarks and 410) over objects held in memory, on 127.0.0.1 and a free port, plus the
// controls a test needs: seed objects, compact history, drop watches, count requests, inject failures.
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as handlers from './handlers.js';
import { type InjectedFailure, RequestLog, type RequestRecord } from './requests.js';
import { BUILTIN_RESOURCES, ResourceCatalog, type ResourceType, splitApiVersion } from './resources.js';
import { route, type Verb } from './routes.js';
import { fieldSelector, labelSelector } from './selectors.js';
import { badRequest, KubeStatusError } from './status.js';
import { type KubeObject, ObjectStore, typeKey } from './store.js';
import { type OpenWatch, serveWatch } from './watch.js';

export interface KubeApiOptions {
  /** Bearer token every request must carry; default `meshdns-test-token`. */
  token?: string;
  /**
   * Serve requests that carry no Authorization header (a wrong token is still 401). kubectl needs it: client-go
   * sends no bearer token over plain http. Default false.
   */
  anonymous?: boolean;
  /** Changes kept for watches to replay; a watch from before them gets 410. Default 1000. */
  historyLimit?: number;
  /** How often a watch that allows bookmarks gets one (the real server: about a minute). Default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** Types served besides the built-in list (e.g. a CRD whose presence a test wants). */
  resources?: ResourceType[];
  /** Replaces the built-in list (e.g. ServiceEntry served in v1beta1 only, as before Istio 1.22). */
  builtins?: readonly ResourceType[];
  /**
   * Serve HTTPS with this key and certificate; `ca` (PEM) goes into kubeconfig() as the cluster's
   * certificate-authority-data (test/fixtures/tls has a set).
   */
  tls?: { key: string; cert: string; ca: string };
}

const DEFAULT_TOKEN = 'meshdns-test-token';
const DEFAULT_HISTORY_LIMIT = 1000;
const DEFAULT_BOOKMARK_INTERVAL_MS = 1000;
const CONTEXT = 'meshdns-test';

export class KubeApiServer {
  readonly token: string;
  private readonly log = new RequestLog();
  private readonly store: ObjectStore;
  private readonly catalog: ResourceCatalog;
  private readonly bookmarkIntervalMs: number;
  private readonly anonymous: boolean;
  private readonly tls: KubeApiOptions['tls'];
  private readonly watches = new Set<OpenWatch>();
  private readonly hooks: { path: string | RegExp; verb?: Verb; act: () => void }[] = [];
  private server: Server | undefined;
  /** Each accepted connection's number, for RequestRecord.connection. */
  private readonly connectionIds = new WeakMap<object, number>();
  private connectionsAccepted = 0;
  private address = '';

  constructor(options: KubeApiOptions = {}) {
    this.token = options.token ?? DEFAULT_TOKEN;
    this.store = new ObjectStore(options.historyLimit ?? DEFAULT_HISTORY_LIMIT);
    this.catalog = new ResourceCatalog([
      ...(options.builtins ?? BUILTIN_RESOURCES),
      ...(options.resources ?? []),
    ]);
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? DEFAULT_BOOKMARK_INTERVAL_MS;
    this.anonymous = options.anonymous ?? false;
    this.tls = options.tls;
  }

  /** `http://127.0.0.1:<port>` (`https://` with `tls`); valid after start(). */
  get url(): string {
    return `${this.tls ? 'https' : 'http'}://${this.address}`;
  }

  async start(): Promise<void> {
    const handle = (req: IncomingMessage, res: ServerResponse) => this.handle(req, res);
    const server = this.tls
      ? createHttpsServer({ key: this.tls.key, cert: this.tls.cert }, handle)
      : createServer(handle);
    // Over TLS a request's socket is the TLS socket, not the TCP one 'connection' gives.
    server.on(this.tls ? 'secureConnection' : 'connection', (socket) =>
      this.connectionIds.set(socket, ++this.connectionsAccepted),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const w of this.watches) w.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // --- objects, written directly as a controller elsewhere in the cluster would (events go to watches) ---

  /** Creates or replaces (unconditionally, status included) the object named by its apiVersion, kind and metadata. */
  put(obj: KubeObject): KubeObject {
    const type = this.typeOf(obj.apiVersion, obj.kind);
    const ns = type.namespaced ? (obj.metadata.namespace ?? 'default') : '';
    const input = structuredClone(obj);
    input.metadata.namespace = ns;
    delete input.metadata.resourceVersion;
    const name = input.metadata.name ?? '';
    const stored = this.store.has(type, ns, name)
      ? this.store.replace(type, input)
      : this.store.create(type, input);
    return { ...stored, apiVersion: obj.apiVersion, kind: obj.kind };
  }

  /** The stored object, or undefined. */
  get(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined {
    const type = this.typeOf(apiVersion, kind);
    const ns = type.namespaced ? namespace : '';
    if (!this.store.has(type, ns, name)) return undefined;
    return { ...this.store.get(type, ns, name), apiVersion, kind };
  }

  list(apiVersion: string, kind: string, namespace?: string): KubeObject[] {
    return this.store.list(this.typeOf(apiVersion, kind), namespace).map((o) => ({ ...o, apiVersion, kind }));
  }

  /** Deletes the object; false if there was none. */
  delete(apiVersion: string, kind: string, namespace: string, name: string): boolean {
    const type = this.typeOf(apiVersion, kind);
    const ns = type.namespaced ? namespace : '';
    if (!this.store.has(type, ns, name)) return false;
    this.store.delete(type, ns, name);
    return true;
  }

  /** The current (global) resourceVersion. */
  get resourceVersion(): string {
    return String(this.store.resourceVersion);
  }

  // --- history and watches ---

  /** Drops all history, as etcd compaction does: a watch from any earlier resourceVersion gets 410 Gone. */
  compact(): void {
    this.store.compact();
  }

  /** Open watch connections. */
  get watchCount(): number {
    return this.watches.size;
  }

  /**
   * Ends every open watch. Default: a clean end of the stream, as at the server's watch timeout; the client
   * rewatches from its last resourceVersion. `abrupt`: the connection is cut, which clients see as an error.
   */
  dropWatches(options: { abrupt?: boolean } = {}): void {
    for (const w of [...this.watches]) {
      if (options.abrupt) w.destroy();
      else w.end();
    }
  }

  /** Sends a BOOKMARK now on every watch that allows them. */
  bookmarkNow(): void {
    for (const w of this.watches) w.bookmark();
  }

  // --- requests ---

  /** Every request so far, in arrival order. */
  get requests(): readonly RequestRecord[] {
    return this.log.records;
  }

  /** Requests seen so far that match the verb and/or the exact path (without query). */
  count(filter: { verb?: Verb; path?: string } = {}): number {
    return this.log.count(filter);
  }

  /** The next `count` requests matching path (and verb) get an error Status instead of being served. */
  failNext(failure: InjectedFailure): void {
    this.log.failNext(failure);
  }

  /**
   * Runs `act` just before the next request matching path (and verb) is served, once: another writer's
   * change landing between a client's read and its write.
   */
  beforeNext(match: { path: string | RegExp; verb?: Verb }, act: () => void): void {
    this.hooks.push({ ...match, act });
  }

  // --- clients ---

  /** A kubeconfig (JSON, which kubectl and client-node read as YAML) for this server, its token and a namespace. */
  kubeconfig(namespace = 'default'): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node refuses plain http unless TLS verification is declared off; kubectl accepts it too.
      clusters: [
        {
          name: CONTEXT,
          cluster: this.tls
            ? { server: this.url, 'certificate-authority-data': Buffer.from(this.tls.ca).toString('base64') }
            : { server: this.url, 'insecure-skip-tls-verify': true },
        },
      ],
      users: [{ name: CONTEXT, user: { token: this.token } }],
      contexts: [{ name: CONTEXT, context: { cluster: CONTEXT, user: CONTEXT, namespace } }],
      'current-context': CONTEXT,
    });
  }

  /** Writes kubeconfig() to `<dir>/kubeconfig` and returns that path. */
  async writeKubeconfig(dir: string, namespace = 'default'): Promise<string> {
    const path = join(dir, 'kubeconfig');
    await writeFile(path, this.kubeconfig(namespace));
    return path;
  }

  private typeOf(apiVersion: string | undefined, kind: string | undefined): ResourceType {
    const type = apiVersion && kind ? this.catalog.byKind(apiVersion, kind) : undefined;
    if (!type) {
      const [group, version] = splitApiVersion(apiVersion ?? '');
      throw new Error(
        `kube test server: no resource type for apiVersion "${apiVersion}" (${group} ${version}) kind "${kind}"`,
      );
    }
    return type;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        this.serve(req, res, Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        const status =
          err instanceof KubeStatusError ? err : new KubeStatusError(500, 'InternalError', String(err));
        reply(res, status.status.code, status.status);
      }
    });
  }

  private serve(req: IncomingMessage, res: ServerResponse, text: string): void {
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    const r = route(this.catalog, method, url, this.address);
    const verb: Verb = r.kind === 'resource' ? r.verb : 'discovery';
    const connection = this.connectionIds.get(req.socket) ?? 0;
    this.log.add({ verb, method, path: url.pathname, query: url.search, connection });
    const auth = req.headers.authorization;
    if (auth !== `Bearer ${this.token}` && !(this.anonymous && auth === undefined)) {
      throw new KubeStatusError(401, 'Unauthorized', 'Unauthorized');
    }
    const injected = this.log.takeFailure(verb, url.pathname);
    if (injected) throw injected;
    const hook = this.hooks.findIndex(
      (h) =>
        (h.verb === undefined || h.verb === verb) &&
        (typeof h.path === 'string' ? h.path === url.pathname : h.path.test(url.pathname)),
    );
    if (hook >= 0) this.hooks.splice(hook, 1)[0]!.act();
    if (r.kind === 'discovery') {
      reply(res, 200, r.body);
      return;
    }
    if (r.kind === 'openapi-v2') {
      // kubectl reads this protobuf-encoded; an empty message is a document without definitions, so kubectl
      // validates nothing client-side and picks JSON merge patch for `apply`, as for a CRD without schema.
      res.writeHead(200, { 'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf' });
      res.end();
      return;
    }
    if (r.kind === 'none') {
      throw new KubeStatusError(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (r.verb === 'watch') {
      this.watch(res, r.target, url.searchParams);
      return;
    }
    const body = text === '' ? undefined : parseBody(text);
    const done = this.objectVerb(r.verb, r.target, url.searchParams, body, req.headers['content-type'] ?? '');
    reply(res, done.code, done.body);
  }

  private objectVerb(
    verb: Exclude<Verb, 'discovery' | 'watch'>,
    target: handlers.Target,
    query: URLSearchParams,
    body: unknown,
    contentType: string,
  ): handlers.Reply {
    switch (verb) {
      case 'list':
        return handlers.list(this.store, target, query);
      case 'get':
        return handlers.get(this.store, target);
      case 'create':
        return handlers.create(this.store, target, body);
      case 'update':
        return handlers.update(this.store, target, body);
      case 'patch':
        return handlers.patch(this.store, target, body, contentType);
      case 'delete':
        return handlers.remove(this.store, target);
    }
  }

  private watch(res: ServerResponse, target: handlers.Target, q: URLSearchParams): void {
    const rv = q.get('resourceVersion') ?? '';
    if (rv !== '' && !/^\d+$/.test(rv)) throw badRequest(`invalid resource version: ${rv}`);
    const timeout = q.get('timeoutSeconds');
    const labels = labelSelector(q.get('labelSelector'));
    const fields = fieldSelector(q.get('fieldSelector'));
    const ns = target.type.namespaced ? target.namespace : undefined;
    const open = serveWatch(
      res,
      this.store,
      {
        typeKey: typeKey(target.type),
        ...(ns !== undefined ? { namespace: ns } : {}),
        selector: (o) => labels(o) && fields(o),
        resourceVersion: rv,
        bookmarks: q.get('allowWatchBookmarks') === 'true',
        bookmarkIntervalMs: this.bookmarkIntervalMs,
        ...(timeout !== null && /^\d+$/.test(timeout) ? { timeoutSeconds: Number(timeout) } : {}),
        render: (o) => handlers.render(target, o),
        current: () => this.store.list(target.type, ns),
      },
      (closed) => this.watches.delete(closed),
    );
    if (!res.writableEnded) this.watches.add(open);
  }
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('the body of the request could not be decoded as JSON');
  }
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Starts a server on 127.0.0.1 and a free port; close() it when done. */
export async function startKubeApi(options: KubeApiOptions = {}): Promise<KubeApiServer> {
  const server = new KubeApiServer(options);
  await server.start();
  return server;
}
