// The cache as a restart's snapshot keeps it (issue 14 item 3): each answer's bytes as the cache holds
// them, its age and hits. What is read back is checked as an upstream reply is: scanned, scoped and
// measured again by prepareAnswer (a damaged entry is skipped), its key taken from its own question.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { cacheKeyOf, type DnsCache } from './cache.js';
import { prepareAnswer } from './cache-answer.js';
import { readReply } from './outcome.js';

export interface CacheSnapshotEntry {
  /** The answer as kept (no OPT), base64. */
  body: string;
  /** The client set DO (it is part of the key, not of the answer). */
  do: boolean;
  /** Milliseconds since it was stored, when the snapshot was written. */
  ageMs: number;
  hits: number;
}

export interface CacheRestore {
  restored: number;
  /** Past their TTL by now (and past the stale window, or serve-stale off). */
  expired: number;
  /** Did not read back as an answer: skipped. */
  invalid: number;
  /** The cache had the key already, or `skip` said so (a name the table answers). */
  skipped: number;
}

/** Entries put back per turn of the event loop: a big cache is restored while queries are answered. */
const RESTORE_SLICE = 256;

/** Every entry, least recently used first; stale ones too (serve-stale may still give them). */
export function dumpCache(cache: DnsCache): CacheSnapshotEntry[] {
  const out: CacheSnapshotEntry[] = [];
  for (const e of cache.entriesByRecency()) {
    out.push({ body: e.answer.body.toString('base64'), do: e.do, ageMs: cache.ageMs(e), hits: e.hits });
  }
  return out;
}

/**
 * Puts entries back, each `elapsedMs` older than it was in the snapshot (the wall-clock time since it
 * was written). Its freshness is measured again under this cache's TTL caps; an entry past it is kept
 * only while serve-stale could still answer with it (RFC 8767).
 */
export async function restoreCache(
  cache: DnsCache,
  entries: readonly CacheSnapshotEntry[],
  elapsedMs: number,
  skip: (qkey: string) => boolean = () => false,
): Promise<CacheRestore> {
  const out: CacheRestore = { restored: 0, expired: 0, invalid: 0, skipped: 0 };
  const s = cache.settings;
  for (let i = 0; i < entries.length; i++) {
    if (i > 0 && i % RESTORE_SLICE === 0) await nextTurn();
    const e = entries[i]!;
    const body = Buffer.from(e.body, 'base64');
    const read = readReply(body);
    const prepared = prepareAnswer(body, s, read);
    const view = read.view;
    if (view === null || prepared.answer === null || prepared.uncacheable !== null) {
      out.invalid++;
      continue;
    }
    const ageMs = e.ageMs + Math.max(0, elapsedMs);
    const kept = prepared.ttl + (s.serveStale ? s.staleMaxAge : 0);
    if (ageMs >= kept * 1000) {
      out.expired++;
      continue;
    }
    const key = cacheKeyOf(view.qkey, view.qtype, view.qclass, e.do);
    const q = { qkey: view.qkey, qtype: view.qtype, do: e.do };
    if (skip(view.qkey) || !cache.restore(key, q, prepared.answer, prepared.ttl, ageMs, e.hits))
      out.skipped++;
    else out.restored++;
  }
  return out;
}
