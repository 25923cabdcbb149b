// Label and field selectors as list and watch take them (`?labelSelector=app=db,tier!=web`,
// `?fieldSelector=metadata.name=x`): set-based label terms too (`env in (a,b)`, `!canary`).

import { badRequest } from './status.js';
import type { KubeObject } from './store.js';

export type Selector = (obj: KubeObject) => boolean;

const MATCH_ALL: Selector = () => true;

/** Commas inside `in (a,b)` do not split terms. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  out.push(selector.slice(start));
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

function labelTerm(term: string): Selector {
  const labels = (o: KubeObject) => o.metadata.labels ?? {};
  const set = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (set) {
    const [, key, op, list] = set as unknown as [string, string, string, string];
    const values = new Set(list.split(',').map((v) => v.trim()));
    return op === 'in'
      ? (o) => values.has(labels(o)[key] ?? '\0absent')
      : (o) => !values.has(labels(o)[key] ?? '\0absent');
  }
  const cmp = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)$/.exec(term);
  if (cmp) {
    const [, key, op, value] = cmp as unknown as [string, string, string, string];
    return op === '!=' ? (o) => labels(o)[key] !== value : (o) => labels(o)[key] === value;
  }
  if (/^![^\s!=]+$/.test(term)) return (o) => !Object.hasOwn(labels(o), term.slice(1));
  if (/^[^\s!=()]+$/.test(term)) return (o) => Object.hasOwn(labels(o), term);
  throw badRequest(`unable to parse requirement: invalid label selector term "${term}"`);
}

export function labelSelector(selector: string | null): Selector {
  if (selector === null || selector.trim() === '') return MATCH_ALL;
  const all = terms(selector).map(labelTerm);
  return (o) => all.every((s) => s(o));
}

/** Fields every resource supports; the real server adds per-type fields (e.g. `spec.nodeName` on pods). */
const FIELDS: Record<string, (o: KubeObject) => string> = {
  'metadata.name': (o) => o.metadata.name ?? '',
  'metadata.namespace': (o) => o.metadata.namespace ?? '',
};

export function fieldSelector(selector: string | null): Selector {
  if (selector === null || selector.trim() === '') return MATCH_ALL;
  const all = terms(selector).map((term): Selector => {
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    const read = m ? FIELDS[m[1]!] : undefined;
    if (!m || !read) throw badRequest(`field label not supported: ${m ? m[1] : term}`);
    const value = m[3]!.trim();
    return m[2] === '!=' ? (o) => read(o) !== value : (o) => read(o) === value;
  });
  return (o) => all.every((s) => s(o));
}
