// The request path as one list (STYLE.md): each stage answers or passes. The order lives here.
import {
  buildEmpty,
  buildHeaderOnly,
  MAX_MESSAGE_SIZE,
  type Query,
  RCODE,
  readQuery,
  truncateResponse,
  UDP_MIN_SIZE,
} from '../dns/index.js';
import type { TableRecord } from '../nametable/index.js';
import type { CacheEntry, CacheHit, ForwardResult } from '../upstream/index.js';
import { type FailureObserver, failureAnswer } from './failures.js';

export type Transport = 'udp' | 'tcp';

export interface Request {
  msg: Buffer;
  q: Query;
  transport: Transport;
  /** The most bytes the client takes: 512 or its EDNS size over UDP (SPEC §4 "Size"), 65535 over TCP. */
  limit: number;
  /**
   * Where the answer came from when that is not the answering stage's name: the cache stage
   * answers misses from upstream and, when upstream fails, from stale entries (metrics, logs).
   */
  source: AnswerSource | undefined;
  /**
   * `msg` is lent by the listener (the native UDP batch's slab, reused by the next batch): valid only
   * while the stages run synchronously. Whatever keeps it past an await calls `keepMessage` first.
   */
  borrowed?: boolean;
  /**
   * Set for a dry run (`explain`): each stage records what it decided here and changes nothing —
   * no rotation moves, no cache entry is counted, touched or stored, upstream is asked as a probe,
   * nothing is counted in the metrics.
   */
  trace?: Trace;
  /** Filled by the stage that answers synchronously from something a listener may keep as a template. */
  note?: AnswerNote;
}

/** A table swapped whole: its generation moves on every swap (TableStage), so a kept answer can tell. */
export interface TableGeneration {
  readonly generation: number;
  /** The same number in memory C can read (a one-element array of its own), where there is one. */
  readonly cell?: Int32Array;
}

/** The cache stage's side of a kept answer: the entry's age, counted as a hit, or -1 when it may not be reused. */
export interface CacheReuse {
  reuse(entry: CacheEntry): number;
  /** The cache's clock (ms), which `CacheEntry.storedAt` is in. */
  now(): number;
  /** Moves each time entries are purged (names a new table answers): kept answers from before may be gone. */
  purges(): number;
  /**
   * Until when (the cache's clock) reuse() will not refuse `entry` for its age: its expiry, or the start
   * of its prefetch window where prefetching could take it (reuse() still decides by popularity).
   */
  reusableUntil(entry: CacheEntry): number;
}

/**
 * What a synchronous answer was made from (issue 12 item 3): the UDP listener keeps the answer as a wire
 * template for the same question and answers it again in place while this still holds.
 */
export interface AnswerNote {
  kind: 'table' | 'cache' | undefined;
  table: TableGeneration | undefined;
  generation: number;
  cache: CacheReuse | undefined;
  hit: CacheHit | undefined;
}

export function answerNote(): AnswerNote {
  return { kind: undefined, table: undefined, generation: 0, cache: undefined, hit: undefined };
}

/** What a dry run found, stage by stage (filled in by the stages themselves). */
export interface Trace {
  /** The table stage: no table yet (`forward`, or `servfail` when so configured), no name, or the record. */
  table?:
    | { state: 'none'; meanwhile: 'forward' | 'servfail' }
    | { state: 'miss' }
    | { state: 'hit'; record: TableRecord };
  /** The cache stage: the entry it holds for the question (fresh or stale), if any, with its age in seconds. */
  cache?: { hit: CacheHit | undefined; fresh: boolean; servedStale: boolean };
  /** The upstream asked: the order of the servers and what the forward ended with. */
  upstream?: { order: string[]; result: ForwardResult };
  /**
   * Autopath (autopath-stage.ts): the name it resolved for `<name>.<first search domain>`, whether that
   * answered the question (else it went on as asked), which stage answered the name with which rcode,
   * and its own trace.
   */
  autopath?: { target: string; answered: boolean; from?: string; rcode?: number; inner: Trace };
}

/** `refused`: the client is outside the listener's allow list (SPEC §10). */
export type AnswerSource = 'table' | 'cache' | 'stale' | 'upstream' | 'none' | 'refused' | 'autopath';

/** A stage's result: an answer, `null` to drop the query, or PASS to hand it to the next stage. */
export const PASS: unique symbol = Symbol('pass');
export type Outcome = Buffer | null | typeof PASS;

export interface Stage {
  readonly name: string;
  handle(req: Request): Outcome | Promise<Outcome>;
}

/** Called once per answered query with where the answer came from (metrics, query logs). */
export type AnswerObserver = (req: Request, source: string, answer: Buffer | null) => void;

/** Sees every message: answered ones, and those refused before any stage (malformed, not a query). */
export interface PipelineObserver {
  answered: AnswerObserver;
  /**
   * `n` answers alike counted at once (a batch's template answers, udp.ts). Absent when each answer
   * must be seen on its own (query logs): then the listener answers every query through answer().
   */
  answeredMany?: (
    transport: Transport,
    qtype: number,
    source: AnswerSource,
    rcode: number,
    n: number,
  ) => void;
  rejected(transport: Transport, problem: 'formerr' | 'notimp' | 'drop'): void;
  /**
   * `settle` runs before each read of the counts: a listener that counts some answers later (udp.ts, the
   * wakes answered in C) adds them then. Returns what takes it away.
   */
  settleWith?(settle: () => void): () => void;
}

/** Makes `req.msg` the request's own (a copy) if it was lent; then it may be kept past an await. */
export function keepMessage(req: Request): void {
  if (req.borrowed !== true) return;
  req.msg = Buffer.from(req.msg);
  req.borrowed = false;
}

export class Pipeline {
  private readonly stages: Stage[];
  private readonly observer: PipelineObserver | undefined;
  private readonly onFailure: FailureObserver | undefined;

  /** `onFailure` hears of every stage that throws (failures.ts: logged and counted, never silent). */
  constructor(stages: Stage[], observer?: PipelineObserver, onFailure?: FailureObserver) {
    this.stages = stages;
    this.observer = observer;
    this.onFailure = onFailure;
  }

  /** Stage names in order, e.g. ["table", "cache", "upstream"]. */
  get order(): string[] {
    return this.stages.map((s) => s.name);
  }

  /**
   * Answers one message. Synchronous when a synchronous stage answers (table hits), so the hot
   * path allocates no promise. `null`: send nothing. A returned promise never rejects.
   * `borrowed`: `msg` is valid only until this returns (Request.borrowed); answering copies what it keeps.
   */
  answer(
    msg: Buffer,
    transport: Transport,
    borrowed = false,
    note?: AnswerNote,
  ): Buffer | null | Promise<Buffer | null> {
    const q = readQuery(msg);
    if (typeof q === 'string') {
      this.observer?.rejected(transport, q);
      if (q === 'drop') return null;
      return buildHeaderOnly(msg, q === 'formerr' ? RCODE.FORMERR : RCODE.NOTIMP);
    }
    const limit =
      transport === 'tcp'
        ? MAX_MESSAGE_SIZE
        : q.edns
          ? Math.min(q.edns.udpSize, MAX_MESSAGE_SIZE)
          : UDP_MIN_SIZE;
    return this.run({ msg, q, transport, limit, source: undefined, borrowed, note }, 0);
  }

  /** Whether answers may be counted in batches (countMany) rather than one by one through answer(). */
  get countsInBatches(): boolean {
    return this.observer === undefined || this.observer.answeredMany !== undefined;
  }

  /** `settle` adds answers counted late before the counts are read (PipelineObserver.settleWith). */
  settleCountsWith(settle: () => void): () => void {
    return this.observer?.settleWith?.(settle) ?? (() => {});
  }

  /** Counts `n` answers alike that a listener gave without answer() (see countsInBatches). */
  countMany(transport: Transport, qtype: number, source: AnswerSource, rcode: number, n: number): void {
    this.observer?.answeredMany?.(transport, qtype, source, rcode, n);
  }

  /**
   * A dry run of `msg` through every stage (Request.trace): the answer it would get, the stage that
   * gives it, and what each stage found. Changes nothing and counts nothing; answers are not truncated.
   */
  async trace(msg: Buffer): Promise<{ answer: Buffer | null; stage: string; trace: Trace }> {
    const q = readQuery(msg);
    if (typeof q === 'string') throw new RangeError(`not a query that can be traced (${q})`);
    const trace: Trace = {};
    const req: Request = { msg, q, transport: 'udp', limit: MAX_MESSAGE_SIZE, source: undefined, trace };
    let stage = 'none';
    for (const s of this.stages) {
      const out = await s.handle(req);
      if (out === PASS) continue;
      stage = s.name;
      return { answer: out, stage: req.source ?? stage, trace };
    }
    return { answer: null, stage, trace };
  }

  /** REFUSED for a client outside the allow list (SPEC §10), counted like any answer. `null`: send nothing. */
  refuse(msg: Buffer, transport: Transport): Buffer | null {
    const q = readQuery(msg);
    if (typeof q === 'string') {
      this.observer?.rejected(transport, q);
      return q === 'drop' ? null : buildHeaderOnly(msg, RCODE.REFUSED);
    }
    const limit = transport === 'tcp' ? MAX_MESSAGE_SIZE : UDP_MIN_SIZE;
    const req: Request = { msg, q, transport, limit, source: 'refused' };
    return this.finish(req, -1, buildEmpty(msg, q, RCODE.REFUSED, false));
  }

  private run(req: Request, from: number): Buffer | null | Promise<Buffer | null> {
    for (let i = from; i < this.stages.length; i++) {
      let out: Outcome | Promise<Outcome>;
      try {
        out = this.stages[i].handle(req);
      } catch (err) {
        return this.failed(req, i, err);
      }
      if (out instanceof Promise) {
        // The stage reads req.msg again after its await, and so do the next stages and the observer.
        keepMessage(req);
        return out
          .then(
            (o) => (o === PASS ? this.run(req, i + 1) : this.finish(req, i, o)),
            (err: unknown) => this.failed(req, i, err),
          )
          .catch((err: unknown) => {
            // Fitting or counting the answer threw: nothing can be sent, but it is reported.
            this.onFailure?.('stage', { stage: 'answer', detail: String(err) });
            return null;
          });
      }
      if (out !== PASS) return this.finish(req, i, out);
    }
    // No stage took it: nothing we can say about the name.
    return this.finish(req, -1, buildEmpty(req.msg, req.q, RCODE.SERVFAIL, false));
  }

  /** A stage threw: the failure table's answer, and the failure reported (logged, counted). */
  private failed(req: Request, stage: number, err: unknown): Buffer | null {
    const name = this.stages[stage].name;
    this.onFailure?.('stage', { stage: name, detail: err instanceof Error ? err.message : String(err) });
    return this.finish(req, stage, failureAnswer(req, 'stage'));
  }

  private finish(req: Request, stage: number, answer: Buffer | null): Buffer | null {
    const fitted =
      answer !== null && answer.length > req.limit ? truncateResponse(answer, req.q, req.limit) : answer;
    if (this.observer !== undefined) {
      this.observer.answered(req, req.source ?? (stage < 0 ? 'none' : this.stages[stage].name), fitted);
    }
    return fitted;
  }
}
