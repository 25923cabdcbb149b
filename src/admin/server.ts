// The admin HTTP API (SPEC §8, §10): metrics, readiness and debug views, JSON, GET only. It binds
// loopback unless `allowRemote`: the debug views show every name and upstream of the workload.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { MeshdnsError } from '../errors.js';
import { checkAdminExposure } from './loopback.js';
import { route } from './routes.js';
import type { AdminSource } from './source.js';

export interface AdminOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  allowRemote?: boolean;
  /** How long a client may take to send its request headers. Default: HEADERS_TIMEOUT_MS. */
  headersTimeoutMs?: number;
}

/**
 * Bounds against slow and oversized requests (SPEC §10), none a user needs to set: a scraper sends
 * its headers in well under a second, and no admin request has a body or big headers. Node's own
 * defaults hold a connection that never finishes its headers for 60 s and look every 30 s.
 */
const HEADERS_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_HEADER_BYTES = 8192;

export class AdminServer {
  private server: Server | undefined;
  private readonly opts: AdminOptions;
  private readonly source: AdminSource;

  constructor(opts: AdminOptions, source: AdminSource) {
    checkAdminExposure(opts);
    this.opts = opts;
    this.source = source;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    // Loaded here: the agent imports this module before its DNS listeners are up, node:http after.
    // `require`, not `import()`: Node 20 loses a script's import() callback when V8 runs it from a
    // code cache (scripts/bundle.mjs refuses a bundle with one).
    const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');
    const headersTimeout = this.opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
    const server = createServer(
      {
        maxHeaderSize: MAX_HEADER_BYTES,
        headersTimeout,
        requestTimeout: Math.max(REQUEST_TIMEOUT_MS, headersTimeout),
        // How often Node looks for connections past those times.
        connectionsCheckingInterval: Math.min(1000, headersTimeout),
      },
      (req, res) => void this.handle(req, res),
    );
    // Admin clients are scrapers and operators: keep idle connections short so close() is quick.
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new MeshdnsError(
            'MESHDNS_LISTEN',
            `cannot listen on ${this.opts.host}:${this.opts.port}/tcp for the admin API: ${err.message}; ` +
              'choose another --admin-listen',
            { cause: err },
          ),
        ),
      );
      server.listen({ host: this.opts.host, port: this.opts.port, exclusive: true }, () => resolve());
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: 'only GET' }, { allow: 'GET, HEAD' });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    try {
      const out = await route(this.source, url);
      if (typeof out.body === 'string') {
        res.writeHead(out.status, { 'content-type': out.contentType ?? 'text/plain; charset=utf-8' });
        res.end(out.body);
      } else {
        send(res, out.status, out.body);
      }
    } catch (err) {
      const status = err instanceof RangeError ? 400 : 500;
      send(res, status, { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}
