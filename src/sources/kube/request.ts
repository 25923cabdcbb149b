// One GET to the Kubernetes API returning the JSON as sent. client-node's typed clients turn timestamps
// into Dates and drop fields they do not know; the model validates the objects as a manifest has them,
// and watch events (which client-node passes on raw) have them that way too.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { MeshdnsError } from '../../errors.js';
import { KUBE_REQUEST_TIMEOUT_MS } from './tuning.js';

/** A failed request: `code` is the HTTP status, or undefined when no answer came. */
export class KubeRequestError extends MeshdnsError {
  readonly statusCode: number | undefined;
  constructor(message: string, statusCode: number | undefined, cause?: unknown) {
    super('MESHDNS_KUBE_API', message, cause ? { cause } : undefined);
    this.statusCode = statusCode;
  }
}

/** The message of a Kubernetes `Status` body, else the start of the text. */
function statusMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string') return body.message;
  } catch {
    // not JSON: fall through
  }
  return text.slice(0, 200);
}

export async function getJson(
  kc: KubeConfig,
  path: string,
  query: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<unknown> {
  const server = kc.getCurrentCluster()?.server ?? '';
  const url = new URL(server.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
  // Token (or exec plugin), client certificate, CA and proxy, as every client-node request gets them.
  await kc.applyToHTTPSOptions(opts);
  const where = `GET ${url.pathname}${url.search}`;
  const send = url.protocol === 'http:' ? http.request : https.request;
  return new Promise((resolve, reject) => {
    const req = send(url, { ...opts, timeout: KUBE_REQUEST_TIMEOUT_MS, ...(signal ? { signal } : {}) });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${KUBE_REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (e) => reject(new KubeRequestError(`${where}: ${e.message}`, undefined, e)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => reject(new KubeRequestError(`${where}: ${e.message}`, undefined, e)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const code = res.statusCode ?? 0;
        if (code !== 200) {
          reject(new KubeRequestError(`${where}: ${code} ${statusMessage(text)}`, code));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch (e) {
          reject(new KubeRequestError(`${where}: the answer is not JSON`, code, e));
        }
      });
    });
    req.end();
  });
}
