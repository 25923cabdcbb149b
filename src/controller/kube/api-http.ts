// Plain node:http(s) requests to the Kubernetes API with what client-node resolves from the kubeconfig:
// server, CA, client certificate, bearer token (exec and token-file plugins included), basic auth,
// impersonation, skip-verify, TLS server name, proxy agent. The status writer sends 10,000 requests at
// start-up; through client-node's ObservableAPI each one also went through node-fetch, its model
// serializer, a fresh agent, the CA file read again and two abort signals: 100-200 ms of the controller's
// CPU per second of writes, and garbage for the collector, on the loop that pushes a user's change.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { KeepAliveAgent } from './keep-alive.js';

/** A request that got an answer other than 2xx (`code`, the body as sent) or none (`code` 0). */
export class KubeHttpError extends Error {
  /** The shape of client-node's ApiException, so requests.ts reads both alike. */
  readonly code: number;
  readonly body: string;
  constructor(message: string, code: number, body = '', cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KubeHttpError';
    this.code = code;
    this.body = body;
  }
}

export interface KubeHttpOptions {
  /** Connections kept alive (requests in flight at once). */
  maxSockets: number;
  /** One request gives up after this (no answer: code 0). */
  timeoutMs: number;
  /** Ends requests in flight (close()). */
  signal: AbortSignal;
  /**
   * How long the options client-node resolved are used before they are asked again: a rotated token file,
   * an exec plugin's new token or renewed certificates are picked up within it, and at once after a 401.
   */
  resolveTtlMs?: number;
  /** Monotonic milliseconds; performance.now by default. */
  now?: () => number;
}

/** client-node's own refresh of a token file is a minute; a 401 asks again at once. */
export const RESOLVE_TTL_MS = 10_000;

interface Resolved {
  server: string;
  protocol: 'http:' | 'https:';
  options: https.RequestOptions;
  at: number;
}

export class KubeHttp {
  readonly #kc: KubeConfig;
  readonly #opts: KubeHttpOptions;
  readonly #keepAlive: KeepAliveAgent;
  readonly #now: () => number;
  #resolved: Promise<Resolved> | undefined;
  #resolvedAt = Number.NEGATIVE_INFINITY;

  constructor(kc: KubeConfig, opts: KubeHttpOptions) {
    this.#kc = kc;
    this.#opts = opts;
    this.#keepAlive = new KeepAliveAgent(opts.maxSockets);
    this.#now = opts.now ?? (() => performance.now());
  }

  /** GET `path` (under the server's URL); resolves the parsed JSON body. */
  async get(path: string): Promise<unknown> {
    const text = await this.#send('GET', path, undefined, undefined);
    return JSON.parse(text);
  }

  /** PATCH `path` with `body` as `contentType`; resolves once the API accepted it (the answer is not read). */
  async patch(path: string, body: unknown, contentType: string): Promise<void> {
    await this.#send('PATCH', path, JSON.stringify(body), contentType);
  }

  /** Closes the kept connections. */
  close(): void {
    this.#keepAlive.close();
  }

  async #send(
    method: string,
    path: string,
    body: string | undefined,
    contentType: string | undefined,
  ): Promise<string> {
    let r = await this.#resolve();
    try {
      return await this.#request(r, method, path, body, contentType);
    } catch (err) {
      // A token that expired or rotated within the TTL: resolve again (unless another request did) and
      // try once more; the request was refused, so nothing of it was applied.
      if ((err as KubeHttpError).code !== 401) throw err;
      if (r.at === this.#resolvedAt) this.#resolved = undefined;
      r = await this.#resolve();
      return await this.#request(r, method, path, body, contentType);
    }
  }

  #resolve(): Promise<Resolved> {
    const now = this.#now();
    if (this.#resolved && now - this.#resolvedAt < (this.#opts.resolveTtlMs ?? RESOLVE_TTL_MS)) {
      return this.#resolved;
    }
    this.#resolvedAt = now;
    const at = now;
    const resolving = (async (): Promise<Resolved> => {
      const options: https.RequestOptions = {};
      await this.#kc.applyToHTTPSOptions(options);
      const server = (this.#kc.getCurrentCluster()?.server ?? '').replace(/\/+$/, '');
      const protocol = server.startsWith('http:') ? 'http:' : 'https:';
      // Plain http(s) agents become one kept-alive agent with the same TLS settings; a proxy agent stays.
      const made = options.agent instanceof http.Agent ? options.agent : undefined;
      options.agent = this.#keepAlive.agentFor(made) ?? made;
      return { server, protocol, options, at };
    })();
    // A failed resolution is not kept: the next request asks again.
    resolving.catch(() => {
      if (this.#resolved === resolving) this.#resolved = undefined;
    });
    this.#resolved = resolving;
    return resolving;
  }

  #request(
    r: Resolved,
    method: string,
    path: string,
    body: string | undefined,
    contentType: string | undefined,
  ): Promise<string> {
    const where = `${method} ${path}`;
    // applyToHTTPSOptions sets headers as an object (Authorization, Impersonate-User).
    const given = r.options.headers as http.OutgoingHttpHeaders | undefined;
    const headers: http.OutgoingHttpHeaders = { ...given, Accept: 'application/json' };
    if (contentType !== undefined) headers['Content-Type'] = contentType;
    if (body !== undefined) headers['Content-Length'] = Buffer.byteLength(body);
    const send = r.protocol === 'http:' ? http.request : https.request;
    const { signal, timeoutMs } = this.#opts;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new KubeHttpError(`${where}: cancelled`, 0));
        return;
      }
      const req = send(`${r.server}${path}`, { ...r.options, method, headers, signal });
      const timer = setTimeout(
        () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)),
        Math.max(1, Math.ceil(timeoutMs)),
      );
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(new KubeHttpError(`${where}: ${e.message}`, 0, '', e));
      };
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(text);
          else reject(new KubeHttpError(`${where}: HTTP ${code}`, code, text));
        });
      });
      req.end(body);
    });
  }
}
