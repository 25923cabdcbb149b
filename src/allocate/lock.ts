// One writer per state file (DESIGN.md invariants): `<target>.lock` holds the writer's pid and host.
// It is made by hard-linking a complete temp file, so the lock never exists half-written. A lock whose
// pid is dead on this host is stale (a crash, a kill -9) and is taken over; another host's lock (a
// shared volume) cannot be checked and is never taken.
import { randomUUID } from 'node:crypto';
import { link, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { MeshdnsError } from '../errors.js';
import { isRunning } from '../pid.js';

interface Holder {
  pid: number;
  hostname: string;
  token: string;
  since?: string;
}

/** Tokens of the locks this process holds: the same pid in a lock may be an earlier process (pid reuse). */
const held = new Set<string>();

// Two processes may take over the same stale lock at once; each round either wins or sees the winner.
const ATTEMPTS = 3;

function isStale(h: Holder): boolean {
  if (h.hostname !== hostname()) return false;
  if (h.pid === process.pid) return !held.has(h.token);
  return !isRunning(h.pid);
}

/** The holder, `undefined` when the lock is gone, `'unreadable'` when it is not ours to read. */
async function readHolder(path: string): Promise<Holder | undefined | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : 'unreadable';
  }
  try {
    const h = JSON.parse(text) as Holder;
    const ok = Number.isInteger(h.pid) && typeof h.hostname === 'string' && typeof h.token === 'string';
    return ok ? h : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

function lockedBy(file: string, path: string, h: Holder | 'unreadable'): MeshdnsError {
  if (h === 'unreadable') {
    const why = `${file}: the VIP state file is locked by ${path}, which cannot be read; one meshdns serve writes a state file at a time. If no meshdns runs on it, remove ${path}`;
    return new MeshdnsError('MESHDNS_STATE_LOCKED', why);
  }
  const since = h.since ? `, since ${h.since}` : '';
  const why = `${file}: the VIP state file is in use by pid ${h.pid} on ${h.hostname} (lock ${path}${since}); one meshdns serve writes a state file at a time. Stop that process or pass another --state-file; if pid ${h.pid} no longer runs on ${h.hostname}, remove ${path}`;
  return new LockedBy(why, h.hostname === hostname() ? h.pid : undefined);
}

/** Locked by a process that runs (on this host: `holder`, which a restart waits for). */
class LockedBy extends MeshdnsError {
  constructor(
    why: string,
    readonly holder: number | undefined,
  ) {
    super('MESHDNS_STATE_LOCKED', why);
  }
}

/** How often a lock held by a running process is tried again while waiting for it. */
const WAIT_POLL_MS = 100;

/** Creates `path` with `text`, failing with EEXIST when it exists. */
async function createExclusive(path: string, temp: string, text: string): Promise<void> {
  try {
    await link(temp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw e;
    // A file system without hard links: O_EXCL, with a short window where the lock is empty.
    const handle = await open(path, 'wx', 0o644);
    try {
      await handle.writeFile(text);
    } finally {
      await handle.close();
    }
  }
}

/** Moves a stale lock out of the way, unless another process replaced it meanwhile. */
async function takeOver(path: string, stale: Holder): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomUUID()}`;
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const moved = await readHolder(aside);
  if (moved !== undefined && moved !== 'unreadable' && moved.token !== stale.token) {
    // We moved a fresh lock another process had just taken: put it back; the next round sees it.
    await link(aside, path).catch(() => undefined);
  }
  await rm(aside, { force: true });
}

export class StateLock {
  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  /**
   * Takes `<target>.lock` for the state file named `file`; throws MESHDNS_STATE_LOCKED naming the holder.
   * A holder that runs is waited for up to `waitMs` (a restart: the old serve still stops while the new
   * one starts), `onWait` told once with its pid.
   */
  static async acquire(
    target: string,
    file: string,
    waitMs = 0,
    onWait?: (pid: number) => void,
  ): Promise<StateLock> {
    const deadline = Date.now() + waitMs;
    for (let told = false; ; told = true) {
      try {
        return await StateLock.#take(target, file);
      } catch (e) {
        const holder = e instanceof LockedBy ? e.holder : undefined;
        if (holder === undefined || Date.now() >= deadline) throw e;
        if (!told) onWait?.(holder);
        await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
      }
    }
  }

  static async #take(target: string, file: string): Promise<StateLock> {
    const path = `${target}.lock`;
    const mine: Holder = {
      pid: process.pid,
      hostname: hostname(),
      token: randomUUID(),
      since: new Date().toISOString(),
    };
    const text = `${JSON.stringify(mine)}\n`;
    const temp = `${path}.${process.pid}.${mine.token}.tmp`;
    try {
      await writeFile(temp, text, { mode: 0o644 });
      let last: Holder | 'unreadable' | undefined;
      for (let i = 0; i < ATTEMPTS; i++) {
        try {
          await createExclusive(path, temp, text);
          held.add(mine.token);
          return new StateLock(path, mine.token);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        last = await readHolder(path);
        if (last === undefined) continue;
        if (last === 'unreadable' || !isStale(last)) throw lockedBy(file, path, last);
        await takeOver(path, last);
      }
      throw lockedBy(file, path, last ?? 'unreadable');
    } catch (e) {
      if (e instanceof MeshdnsError) throw e;
      const why = `${file}: cannot take the lock ${path} (${(e as Error).message}); check that its folder is writable`;
      throw new MeshdnsError('MESHDNS_STATE_LOCKED', why, { cause: e });
    } finally {
      await rm(temp, { force: true });
    }
  }

  /** Removes the lock if it is still ours. */
  async release(): Promise<void> {
    if (!held.delete(this.token)) return;
    const h = await readHolder(this.path);
    if (h !== undefined && h !== 'unreadable' && h.token === this.token) await rm(this.path, { force: true });
  }
}
