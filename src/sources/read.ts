// Reading one manifest file so that a read racing a writer never counts (issue 8 finding 1):
// `open('w')` empties the file before the new text lands, and a writer may pause between chunks.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { READ_ATTEMPTS, READ_RETRY_MS } from './tuning.js';

/**
 * What a stat says of a file's content: inode, size and times. A rewrite, a rename over the file, or a
 * ConfigMap symlink swap changes it (ctime also moves on renames and `touch -d`). Numbers, compared
 * field by field: a folder's rescan compares 50,000 of them and makes no string or BigInt doing so.
 * A double holds inode numbers up to 2^53 and times to about 0.24 µs; an inode past that (overlayfs
 * xino) or two writes closer than that still differ in ctime or size almost always.
 */
export class Stamp {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;

  /** From a Stats, or from the same four numbers read elsewhere (read-ahead.ts). */
  constructor(s: Pick<Stats, 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>) {
    this.ino = s.ino;
    this.size = s.size;
    this.mtimeMs = s.mtimeMs;
    this.ctimeMs = s.ctimeMs;
  }

  matches(s: Stats): boolean {
    return (
      s.ino === this.ino && s.size === this.size && s.mtimeMs === this.mtimeMs && s.ctimeMs === this.ctimeMs
    );
  }
}

export type FileRead =
  | { kind: 'text'; text: string; stamp: Stamp }
  | { kind: 'too-big'; size: number; stamp: Stamp }
  /** Changed during every try, or changed less than `settleMs` ago: not to be trusted yet. */
  | { kind: 'changing' }
  /** Replaced by a folder, a FIFO or a device since it was listed. */
  | { kind: 'not-a-file' };

export interface ReadRules {
  maxBytes: number;
  /**
   * A file changed more recently than this may be between a writer's chunks; 0 reads it anyway.
   * Only a file that had content is held back: a new file's early read loses nothing.
   */
  settleMs: number;
  /** The same for a file that is empty now and had objects before: usually longer (EMPTY_SETTLE_MS). */
  emptySettleMs?: number;
}

/**
 * Whether a file stat'ed at `nowMs` (Date.now()) changed too recently for its read to count: less than
 * the rules' settle time before (ctime: also moved by renames, never set by `touch -d`). A clock set
 * back makes the age negative: such a file counts as settled, not as changing forever.
 */
export function tooFresh(stamp: Stamp, nowMs: number, rules: ReadRules): boolean {
  // Whole milliseconds, as Date.now() counts: a change in this very millisecond has a ctime a fraction
  // past now, and a negative age would pass it as settled (a clock set back).
  const age = nowMs - Math.floor(stamp.ctimeMs);
  const settle = stamp.size === 0 ? Math.max(rules.settleMs, rules.emptySettleMs ?? 0) : rules.settleMs;
  return age >= 0 && age < settle;
}

/**
 * The file's text, read between two stats of the same open file that agree (same size, times and
 * inode) and with as many bytes as the size said. Throws the fs error (ENOENT: the file is gone).
 */
export async function readManifestFile(file: string, rules: ReadRules): Promise<FileRead> {
  // Synchronous calls: the source runs on the controller's thread, never on the one answering DNS, and
  // a manifest is small; a promise round trip per call cost more than the read (10,000 files: ~2 s).
  // O_NONBLOCK: a FIFO put in the file's place must not hang the read (it has no effect on files).
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    for (let attempt = 1; ; attempt++) {
      const before = fstatSync(fd);
      if (!before.isFile()) return { kind: 'not-a-file' };
      const stamp = new Stamp(before);
      if (tooFresh(stamp, Date.now(), rules)) return { kind: 'changing' };
      if (before.size > rules.maxBytes) return { kind: 'too-big', size: before.size, stamp };
      const bytes = readUpTo(fd, before.size + 1);
      if (bytes.length === before.size && stamp.matches(fstatSync(fd))) {
        return { kind: 'text', text: bytes.toString('utf8'), stamp };
      }
      if (attempt >= READ_ATTEMPTS) return { kind: 'changing' };
      await sleep(READ_RETRY_MS);
    }
  } finally {
    closeSync(fd);
  }
}

// Reads from the start until `limit` bytes or the end; one byte past the size shows a file that grew.
// A regular file's read returns less than asked only at its end: no second read to see nothing come.
function readUpTo(fd: number, limit: number): Buffer {
  const buffer = Buffer.allocUnsafe(limit);
  let length = 0;
  while (length < limit) {
    const asked = limit - length;
    const bytesRead = readSync(fd, buffer, length, asked, length);
    length += bytesRead;
    if (bytesRead < asked) break;
  }
  return buffer.subarray(0, length);
}
