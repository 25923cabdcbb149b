// V8's `--trace-gc` lines, read from meshdns' stdout, per isolate (the main thread and each worker):
// the heap memory committed after every collection, and the heap's size after every full collection
// (Mark-Compact), which is what is live. A Node process's RSS rises and falls with its committed heap
// (V8 grows the young generation to 2 x 16 MiB under load and the old generation up to a limit that
// moves, and gives memory back when its memory reducer runs), so the soak needs these to tell memory
// that is kept from memory V8 has not collected or returned yet.

/** `[pid:0xISOLATE]  123 ms: KIND 25.3 (40.1) -> 12.1 (38.0) MB, …`: objects (committed) before -> after, MiB. */
const LINE =
  /^\[\d+:(0x[0-9a-f]+)\]\s+[\d.]+ ms: ([A-Za-z-]+(?: [A-Za-z-]+)*(?: \([a-z ]+\))?) [\d.]+ \([\d.]+\) -> ([\d.]+) \(([\d.]+)\) MB/;

/** Full collections kept per isolate: a bound however long the soak runs (one every few seconds at most). */
const MAX_FULL_GCS = 10_000;

export interface FullGc {
  /** When the line was read, in the caller's clock (minutes). */
  t: number;
  /** Heap objects after the collection, MiB. */
  liveMiB: number;
}

interface IsolateHeap {
  committedMiB: number;
  fullGcs: FullGc[];
}

export class GcTrace {
  readonly isolates = new Map<string, IsolateHeap>();
  /** Lines read that looked like a GC trace but did not parse (a format this parser does not know). */
  unknown = 0;
  private partial = '';

  constructor(private readonly now: () => number) {}

  /** A chunk of stdout, cut anywhere. */
  feed(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  line(text: string): void {
    const m = LINE.exec(text);
    if (!m) {
      if (/ ms: .* MB/.test(text)) this.unknown++;
      return;
    }
    const [, isolate, kind, after, committedAfter] = m;
    let heap = this.isolates.get(isolate!);
    if (!heap) {
      heap = { committedMiB: 0, fullGcs: [] };
      this.isolates.set(isolate!, heap);
    }
    heap.committedMiB = Number(committedAfter);
    if (kind!.startsWith('Mark-Compact') && heap.fullGcs.length < MAX_FULL_GCS)
      heap.fullGcs.push({ t: this.now(), liveMiB: Number(after) });
  }

  /** Heap memory each isolate holds now, as of its last collection, MiB. */
  committedMiB(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [isolate, heap] of this.isolates) out[isolate] = heap.committedMiB;
    return out;
  }
}
