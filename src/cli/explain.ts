// `meshdns explain NAME`: asks a running agent's admin API how it answers NAME and why.
import type { Explanation } from '../agent/index.js';
import type { PresentedRecord } from '../dns/index.js';
import { MeshdnsError } from '../errors.js';
import { adminGet } from './admin-client.js';

export interface ExplainFlags {
  type: string;
  admin: string;
  output: string;
}

const ADMIN_TIMEOUT_MS = 10_000;

const recordLine = (r: PresentedRecord) => `  ${r.name} ${r.ttl} IN ${r.type} ${r.data}`;

function text(e: Explanation): string {
  const lines = [`${e.name} ${e.type}: answered from ${e.source}`, `  why: ${e.why}`];
  if (e.table) {
    lines.push(
      `  key: ${e.table.key} (${e.table.kind})`,
      `  rule: ${e.table.rule}`,
      `  resource: ${e.table.resource}`,
    );
  }
  if (e.cache) {
    const c = e.cache;
    lines.push(
      `  cache: ${c.state}, stored ${c.ageSeconds} s ago, TTL ${c.ttl} s, ${c.ttlLeftSeconds} s left, ${c.hits} hits`,
    );
  }
  if (e.autopath)
    lines.push(
      `  autopath: ${e.autopath.target} ${e.autopath.answered ? `exists (${e.autopath.from})` : 'does not exist'}`,
    );
  if (e.upstream) lines.push(`  upstream: ${e.upstream.order.join(', ')} (in this order)`);
  if (e.answer === null) {
    const failure = e.upstream?.failure;
    lines.push(
      `answer: none (no upstream answered${failure ? `: ${failure.reason}, ${failure.detail}` : ''})`,
    );
  } else {
    lines.push(`answer: ${e.answer.rcode}${e.answer.flags.length ? ` (${e.answer.flags.join(' ')})` : ''}`);
    lines.push(...e.answer.answers.map(recordLine), ...e.answer.authorities.map(recordLine));
  }
  return `${lines.join('\n')}\n`;
}

export async function explainName(name: string, flags: ExplainFlags): Promise<void> {
  const path = `/debug/explain?${new URLSearchParams({ name, type: flags.type })}`;
  const res = await adminGet(flags.admin, path, ADMIN_TIMEOUT_MS);
  const body = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as
    | Explanation
    | { error?: string };
  if (res.status !== 200 || 'error' in body || !('source' in body)) {
    throw new MeshdnsError(
      'MESHDNS_FLAG_INVALID',
      `explain ${name}: ${'error' in body ? body.error : `HTTP ${res.status}`}`,
    );
  }
  process.stdout.write(flags.output === 'json' ? `${JSON.stringify(body, null, 2)}\n` : text(body));
}
