// `meshdns explain`: how the agent answers a name and why. It asks the request path itself: a dry
// run through the same stages (Pipeline.trace), in which each stage records what it decided and
// changes nothing (no rotation moves, no cache entry is counted or stored, upstream is asked as a
// probe). A change to the pipeline changes explain with it.
import {
  type PresentedMessage,
  parseQtype,
  presentMessage,
  qtypeName,
  RCODE,
  RCODE_NAMES,
  readQuery,
  toFqdn,
} from '../dns/index.js';
import type { TableRecord } from '../nametable/index.js';
import type { Pipeline, Trace } from '../server/index.js';
import { buildQuery } from '../upstream/index.js';

export interface ExplainDeps {
  /** The agent's own request path. */
  pipeline: Pipeline;
}

/** `stale`: upstream failed and the cache answered with an expired entry (RFC 8767). */
export type ExplainSource = 'table' | 'wildcard' | 'cache' | 'stale' | 'upstream' | 'servfail' | 'autopath';

export interface Explanation {
  name: string;
  type: string;
  source: ExplainSource;
  /** One sentence: why this source answers. */
  why: string;
  table?: { key: string; kind: string; rule: string; resource: string; cnames: string[]; external?: string };
  cache?: { state: 'fresh' | 'stale'; ageSeconds: number; ttlLeftSeconds: number; ttl: number; hits: number };
  /** `failure`: why upstream gave no answer (the failure table's kinds, upstream/outcome.ts). */
  upstream?: { first: string; order: string[]; failure?: { reason: string; detail: string } };
  /**
   * The question was `<target>.<first search domain>` and `<target>` is no mesh name: the agent asked for
   * `<target>` itself (issue 14 item 2). `answered`: it exists, and the answer is a CNAME to it; else the
   * question went on as asked. `from`: the stage that answered `<target>` (cache, stale, upstream).
   */
  autopath?: { target: string; answered: boolean; from?: string };
  answer: PresentedMessage | null;
}

/** SPEC §3's rules, as the reason a table key exists. */
function rule(r: TableRecord, qname: string): string {
  switch (r.kind) {
    case 'host':
      return r.perName !== undefined
        ? `name with a VIP of its own under the per-name wildcard ServiceEntry host ${r.perName}, given when first asked and kept while asked (README "Per-name VIPs")`
        : 'host of a Kubernetes Service or ServiceEntry (docs/behaviour.md §3.1-5)';
    case 'per-name':
      return `per-name wildcard ServiceEntry host ${r.name}: ${qname} gets a VIP of its own on its first query; until then, past --wildcard-vip-cap or --wildcard-vip-rate, ${r.ipv4.length + r.ipv6.length > 0 ? "the wildcard's own VIPs" : 'forwarding'} (README "Per-name VIPs")`;
    case 'endpoint':
      return 'hostname of a headless Service endpoint (docs/behaviour.md §3.2)';
    case 'wildcard':
      return `wildcard ServiceEntry host ${r.name}, the most specific one covering ${qname} (docs/behaviour.md §3.6)`;
    case 'search':
      return `search-domain shortcut: ${r.name} is ${r.cnames[0]} plus the first search domain, answered with a CNAME to it (docs/behaviour.md §3.9)`;
    case 'alias': {
      const form = r.name.endsWith('.svc.')
        ? 'name.ns.svc.'
        : r.name.split('.').length === 3
          ? 'name.ns.'
          : 'name.';
      return `alias ${form} of a Service in the cluster domain${form === 'name.' ? ', for workloads of its namespace' : ''} (docs/behaviour.md §3.8)`;
    }
  }
}

function fromTable(qname: string, type: string, record: TableRecord, answer: Buffer): Explanation {
  const external = record.external;
  return {
    name: qname,
    type,
    source: record.kind === 'wildcard' ? 'wildcard' : 'table',
    why:
      `${qname} is in the name table (${record.kind}), so the agent answers it itself with TTL 30` +
      (external ? `; the CNAME target ${external} is resolved upstream at query time` : ''),
    table: {
      key: record.name,
      kind: record.kind,
      rule: rule(record, qname),
      resource: record.origin,
      cnames: record.cnames,
      ...(external ? { external } : {}),
    },
    answer: presentMessage(answer),
  };
}

function cacheOf(trace: Trace): Explanation['cache'] {
  const hit = trace.cache?.hit;
  if (hit === undefined) return undefined;
  const { entry: e, age } = hit;
  return {
    state: age < e.ttl ? 'fresh' : 'stale',
    ageSeconds: age,
    ttlLeftSeconds: Math.max(0, e.ttl - age),
    ttl: e.ttl,
    hits: e.hits,
  };
}

export async function explain(deps: ExplainDeps, name: string, typeText: string): Promise<Explanation> {
  const qtype = parseQtype(typeText);
  if (qtype === undefined)
    throw new RangeError(`type "${typeText}" is not a DNS type (A, AAAA, MX, TYPE65…)`);
  const qname = toFqdn(name);
  const query = buildQuery(qname, qtype, 0);
  if (typeof readQuery(query) === 'string')
    throw new RangeError(`"${name}" is not a name that fits in a query`);
  const type = qtypeName(qtype);
  const { answer, stage, trace } = await deps.pipeline.trace(query);
  const table = trace.table;
  if (table?.state === 'none' && table.meanwhile === 'servfail') {
    return {
      name: qname,
      type,
      source: 'servfail',
      why: 'no name table yet, and SERVFAIL is configured until it arrives',
      answer: null,
    };
  }
  if (table?.state === 'hit' && stage === 'table' && answer !== null)
    return fromTable(qname, type, table.record, answer);
  const auto = trace.autopath;
  if (auto?.answered && stage === 'autopath' && answer !== null)
    return fromAutopath(qname, type, auto, answer);

  const notes =
    (table?.state === 'none'
      ? 'no name table yet, so everything is forwarded; '
      : table?.state === 'hit' && table.record.kind === 'per-name'
        ? `${qname} has no VIP of its own yet under the per-name wildcard ${table.record.name} (its first query gives it one; a dry run asks for none); `
        : `${qname} is not in the name table; `) +
    (auto
      ? `autopath asked for ${auto.target} first, ${autopathMiss(auto)}, so the question goes on as asked; `
      : '');
  const cache = cacheOf(trace);
  if (stage === 'cache' && cache !== undefined && answer !== null) {
    return {
      name: qname,
      type,
      source: 'cache',
      why: `${notes}the cache holds an answer stored ${cache.ageSeconds} s ago with ${cache.ttlLeftSeconds} s left`,
      cache,
      answer: presentMessage(answer),
    };
  }
  const order = trace.upstream?.order ?? [];
  const result = trace.upstream?.result;
  const failure =
    result && result.kind !== 'answered' ? { reason: result.kind, detail: result.detail } : undefined;
  const servedStale = trace.cache?.servedStale === true;
  const staleNote = cache
    ? servedStale
      ? ` (every upstream failed, so the answer that expired ${cache.ageSeconds - cache.ttl} s ago is served stale)`
      : ` (the cached answer expired ${cache.ageSeconds - cache.ttl} s ago; it is served stale only if every upstream fails)`
    : '';
  return {
    name: qname,
    type,
    source: servedStale ? 'stale' : 'upstream',
    why: `${notes}${trace.cache ? 'not in the cache, ' : ''}so it is forwarded to ${order[0]}${order.length > 1 ? `, then ${order.slice(1).join(', ')}` : ''}${staleNote}`,
    ...(cache ? { cache } : {}),
    upstream: { first: order[0] ?? '', order, ...(failure ? { failure } : {}) },
    ...(auto ? { autopath: autopathOf(auto) } : {}),
    answer: result?.kind === 'answered' || servedStale ? answer && presentMessage(answer) : null,
  };
}

function autopathOf(auto: NonNullable<Trace['autopath']>): NonNullable<Explanation['autopath']> {
  return { target: auto.target, answered: auto.answered, ...(auto.from ? { from: auto.from } : {}) };
}

/** Why autopath's name did not answer the question. */
function autopathMiss(auto: NonNullable<Trace['autopath']>): string {
  if (auto.rcode === undefined) return 'which got no answer';
  if (auto.rcode === RCODE.NXDOMAIN) return 'which does not exist (NXDOMAIN)';
  return `which got ${RCODE_NAMES[auto.rcode] ?? `rcode ${auto.rcode}`}`;
}

const FROM: Record<string, string> = {
  cache: 'from the cache',
  stale: 'from the cache, served stale as every upstream failed',
  upstream: 'from upstream',
};

function fromAutopath(
  qname: string,
  type: string,
  auto: NonNullable<Trace['autopath']>,
  answer: Buffer,
): Explanation {
  const from =
    auto.from === 'upstream'
      ? `from upstream ${auto.inner.upstream?.order[0] ?? ''}`.trimEnd()
      : (FROM[auto.from ?? ''] ?? `from ${auto.from}`);
  return {
    name: qname,
    type,
    source: 'autopath',
    why: `${qname} is ${auto.target} plus the workload's first search domain, and ${auto.target} is no mesh name: the agent resolved ${auto.target} itself (${from}) and answers with a CNAME to it and its records, so the client's search ends at its first try (autopath; --no-autopath turns it off)`,
    autopath: autopathOf(auto),
    answer: presentMessage(answer),
  };
}
