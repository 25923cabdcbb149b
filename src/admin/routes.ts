// The admin API's routes: path → what the agent shows. One table, so the API reads at a glance.
import type { AdminSource } from './source.js';

export interface Reply {
  status: number;
  body: unknown;
  contentType?: string;
}

type Handler = (source: AdminSource, url: URL) => Reply | Promise<Reply>;

const ok = (body: unknown): Reply => ({ status: 200, body });

const ROUTES: Record<string, Handler> = {
  '/metrics': async (source) => {
    const text = source.metrics();
    if (text === undefined) return { status: 404, body: { error: 'metrics are off (--no-metrics)' } };
    const { contentType, body } = await text;
    return { status: 200, body, contentType };
  },
  '/healthz/ready': (source) => {
    const r = source.readiness();
    return { status: r.ready ? 200 : 503, body: r };
  },
  // Liveness: the process answers HTTP; readiness says whether it can do its work.
  '/healthz/live': () => ok({ live: true }),
  '/debug/nametable': (source) => ok(source.nameTable()),
  '/debug/config': async (source) => ok(await source.config()),
  '/debug/vips': (source) => ok(source.vips()),
  '/debug/cache': async (source, url) => ok(await source.cache(url.searchParams.get('name') ?? undefined)),
  '/debug/upstreams': async (source) => ok(await source.upstreams()),
  '/debug/explain': async (source, url) => {
    const name = url.searchParams.get('name');
    if (!name) return { status: 400, body: { error: 'name is required: /debug/explain?name=NAME&type=A' } };
    return ok(await source.explain(name, url.searchParams.get('type') ?? 'A'));
  },
};

export async function route(source: AdminSource, url: URL): Promise<Reply> {
  const handler = ROUTES[url.pathname.replace(/\/+$/, '') || '/'];
  if (handler === undefined) {
    return { status: 404, body: { error: `no such path ${url.pathname}`, paths: Object.keys(ROUTES) } };
  }
  return handler(source, url);
}
