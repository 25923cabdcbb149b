// `meshdns explain`: how the agent answers a name and why, found by running the lookup logic of the
// request path (table → cache → upstream) without side effects: no rotation of table answers, no
// cache hit counted or entry stored, and upstream asked as a probe that moves no rotation or stats.
import {
  MAX_MESSAGE_SIZE,
  type PresentedMessage,
  parseQtype,
  presentMessage,
  type Query,
  qtypeName,
  readQuery,
  toFqdn,
} from '../dns/index.js';
import { type NameTable, TableEntry, type TableRecord } from '../nametable/index.js';
import { buildQuery, cacheKey, type DnsCache, type Forwarder, renderAnswer } from '../upstream/index.js';

export interface ExplainDeps {
  table: NameTable | undefined;
  servfailBeforeTable: boolean;
  cache: DnsCache | undefined;
  forwarder: Forwarder;
}

export type ExplainSource = 'table' | 'wildcard' | 'cache' | 'upstream' | 'servfail';

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
  answer: PresentedMessage | null;
}

/** SPEC §3's rules, as the reason a table key exists. */
function rule(r: TableRecord, qname: string): string {
  switch (r.kind) {
    case 'host':
      return 'host of a Kubernetes Service or ServiceEntry (docs/behaviour.md §3.1-5)';
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

function fromTable(query: Buffer, q: Query, record: TableRecord, qname: string): Explanation {
  // A fresh entry answers, so the table's own rotation counter does not move.
  const answer = presentMessage(new TableEntry(record).respond(query, q, MAX_MESSAGE_SIZE));
  const external = record.external;
  return {
    name: qname,
    type: qtypeName(q.qtype),
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
    answer,
  };
}

export async function explain(deps: ExplainDeps, name: string, typeText: string): Promise<Explanation> {
  const qtype = parseQtype(typeText);
  if (qtype === undefined)
    throw new RangeError(`type "${typeText}" is not a DNS type (A, AAAA, MX, TYPE65…)`);
  const qname = toFqdn(name);
  const query = buildQuery(qname, qtype, 0);
  const q = readQuery(query);
  if (typeof q === 'string') throw new RangeError(`"${name}" is not a name that fits in a query`);
  const type = qtypeName(qtype);
  if (deps.table === undefined && deps.servfailBeforeTable) {
    return {
      name: qname,
      type,
      source: 'servfail',
      why: 'no name table yet, and SERVFAIL is configured until it arrives',
      answer: null,
    };
  }
  const entry = deps.table?.lookup(q.qkey);
  if (entry !== undefined) return fromTable(query, q, entry.record, qname);

  const notes =
    deps.table === undefined
      ? 'no name table yet, so everything is forwarded; '
      : `${qname} is not in the name table; `;
  const hit = deps.cache?.peek(cacheKey(q));
  let cache: Explanation['cache'];
  if (hit !== undefined) {
    const { entry: e, age } = hit;
    const fresh = age < e.ttl;
    cache = {
      state: fresh ? 'fresh' : 'stale',
      ageSeconds: age,
      ttlLeftSeconds: Math.max(0, e.ttl - age),
      ttl: e.ttl,
      hits: e.hits,
    };
    const rendered = fresh ? renderAnswer(e.answer, query, q, age, undefined, e.ttl) : null;
    if (rendered !== null) {
      return {
        name: qname,
        type,
        source: 'cache',
        why: `${notes}the cache holds an answer stored ${age} s ago with ${e.ttl - age} s left`,
        cache,
        answer: presentMessage(rendered),
      };
    }
  }
  const order = deps.forwarder.plan();
  const result = await deps.forwarder.forward(query, q, { probe: true });
  const staleNote = cache
    ? ` (the cached answer expired ${cache.ageSeconds - cache.ttl} s ago; it is served stale only if every upstream fails)`
    : '';
  return {
    name: qname,
    type,
    source: 'upstream',
    why: `${notes}${deps.cache ? 'not in the cache, ' : ''}so it is forwarded to ${order[0]}${order.length > 1 ? `, then ${order.slice(1).join(', ')}` : ''}${staleNote}`,
    ...(cache ? { cache } : {}),
    upstream: {
      first: order[0],
      order,
      ...(result.kind === 'answered' ? {} : { failure: { reason: result.kind, detail: result.detail } }),
    },
    answer: result.kind === 'answered' ? presentMessage(result.reply) : null,
  };
}
