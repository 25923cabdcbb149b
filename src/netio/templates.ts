// The C copy of a UDP listener's answer templates (netio.c "hit path", issue 12 item 6): what
// src/server/answer-templates.ts keeps, slot for slot, so that BatchSocket.answerInPlace() answers a
// repeated question without JavaScript. This side only carries bytes and numbers across; the rules of
// what may be kept and for how long stay with answer-templates.ts and the pipeline.
import { loadAddon, type NetioBinding, type TemplateStoreHandle } from './addon.js';

/** put()'s numbers, in the order of netio.c's M_* indexes. */
const M_COUNT = 11;
/** answer()'s slab state, netio.c's S_* indexes. */
export const S_QUEUED = 0;
export const S_USED = 1;
export const S_MAX_MESSAGES = 2;
export const S_MAX_BYTES = 3;

/** A template as netio.c copies it: the fields AnswerTemplate.write() reads. */
export interface NativeTemplate {
  hash: number;
  /** Lower-cased wire bytes of the question name. */
  name: Uint8Array;
  qtype: number;
  qclass: number;
  do: boolean;
  body: Uint8Array;
  flags: number;
  arcount: number;
  runAt: number;
  runCount: number;
  stride: number;
  ttlOffsets: Int32Array;
  ttls: Int32Array;
}

/**
 * How long a kept template may answer from C: a table's while the table's generation is `generation`; a
 * cache entry's while the cache's purge generation is `generation`, from `storedAt` until `validUntil`
 * (the cache's clock, ms).
 */
export type NativeValidity =
  | { cache: false; generation: number }
  | { cache: true; generation: number; storedAt: number; validUntil: number };

export class NativeTemplates {
  readonly handle: TemplateStoreHandle;
  /** answer()'s slab state and the slot of each template that answered, reused batch to batch. */
  readonly state = new Int32Array(4);
  readonly hits: Int32Array;
  private readonly numbers = new Int32Array(M_COUNT);

  private constructor(
    private readonly binding: NetioBinding,
    sets: number,
    ways: number,
  ) {
    this.handle = binding.templates(sets, ways);
    this.hits = new Int32Array(binding.maxBatch);
  }

  /** A store of `sets` × `ways` slots, or undefined without the addon (or one built before it had stores). */
  static create(sets: number, ways: number): NativeTemplates | undefined {
    const binding = loadAddon().binding;
    if (binding === undefined || typeof binding.answer !== 'function') return undefined;
    return new NativeTemplates(binding, sets, ways);
  }

  put(slot: number, t: NativeTemplate, validity: NativeValidity): void {
    const m = this.numbers;
    m[0] = t.hash | 0;
    m[1] = t.qtype;
    m[2] = t.qclass;
    m[3] = t.do ? 1 : 0;
    m[4] = t.flags;
    m[5] = t.arcount;
    m[6] = t.runAt;
    m[7] = t.runCount;
    m[8] = t.stride;
    m[9] = validity.generation;
    m[10] = validity.cache ? 1 : 0;
    const from = validity.cache ? validity.storedAt : 0;
    const until = validity.cache ? validity.validUntil : 0;
    this.binding.put(this.handle, slot, t.name, t.body, t.ttlOffsets, t.ttls, m, from, until);
  }

  drop(slot: number): void {
    this.binding.drop(this.handle, slot);
  }
}
