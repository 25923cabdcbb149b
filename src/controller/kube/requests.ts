// What every Kubernetes API call of the controller shares: a timeout on each request, the HTTP code of a
// failure, which failures are worth another try, and a sleep that close() can cut short.
import { setTimeout as delay } from 'node:timers/promises';
import {
  type ConfigurationOptions,
  Observable,
  PatchStrategy,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';

/**
 * Request options that abort the request after `timeoutMs` (client-node sets none: a request to an API
 * server that stopped answering would wait forever) or when `cancel` aborts, and, if given, set the
 * Content-Type of a patch.
 */
export function requestOptions(
  timeoutMs: number,
  contentType?: string,
  cancel?: AbortSignal,
): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (ctx: RequestContext) => {
          const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(timeoutMs))); // an integer, or it throws
          ctx.setSignal(cancel ? AbortSignal.any([timeout, cancel]) : timeout);
          if (contentType !== undefined) ctx.setHeaderParam('Content-Type', contentType);
          return new Observable(Promise.resolve(ctx));
        },
        post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

export const JSON_PATCH = PatchStrategy.JsonPatch;
export const MERGE_PATCH = PatchStrategy.MergePatch;

/** The HTTP code of a failed client-node call (ApiException.code); 0 when no answer came (network, timeout). */
export function httpCode(err: unknown): number {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : 0;
}

/** Worth another try: no answer, a conflict, throttling or a server-side failure (client-go's retry set). */
export function retryable(code: number): boolean {
  return code === 0 || code === 409 || code === 429 || code >= 500;
}

/** A short description of a failure for logs: the API's Status message when there is one. */
export function failureText(err: unknown): string {
  let body = (err as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // not a Status: the error's own message below
    }
  }
  const message = (body as { message?: unknown } | undefined)?.message;
  if (typeof message === 'string') return message;
  return err instanceof Error ? err.message : String(err);
}

/** Waits `ms`; resolves false at once (no throw) when `signal` aborts, so callers stop instead of retrying. */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
