// A restart's snapshot (issue 14 item 3): what an agent writes as it stops, for the process that takes
// its port over — its cache and its last name table. Versioned, written whole (temp, fsync, rename, as
// the state file is), readable by its owner only (it lists the names looked up). Reading it is never
// fatal: a file that is damaged, of another version or not safe to trust is reported and ignored.
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HostVips } from '../allocate/index.js';
// The files themselves, not allocate/index.ts: that loads the model (zod), which this thread never needs.
import { replaceFile } from '../allocate/replace-file.js';
import { stateTarget } from '../allocate/state-target.js';
import { MeshdnsError } from '../errors.js';
import type { TableSnapshot } from '../nametable/index.js';
import type { CacheSnapshotEntry } from '../upstream/index.js';
import { routesProblem, type VipRoute } from '../vip/routes.js';

export const SNAPSHOT_VERSION = 1;

export interface Snapshot {
  version: typeof SNAPSHOT_VERSION;
  /** Wall-clock milliseconds when written: what a reader ages the cache by. */
  writtenAt: number;
  /** The writer: a process never loads its own snapshot back. */
  pid: number;
  cache: CacheSnapshotEntry[];
  /** The table answered from; absent when there was none. */
  table?: TableSnapshot;
  /** The workload's VIPs and the VIP proxy's routes that went with the table. */
  vips?: SnapshotVips;
}

export interface SnapshotVips {
  hosts: Omit<HostVips, 'entry'>[];
  routes: VipRoute[];
}

/** What is wrong with a snapshot's VIPs, or undefined when they can be used. */
export function vipsSnapshotProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'not VIPs';
  const { hosts, routes } = v as Record<string, unknown>;
  const hostOk = (h: unknown) =>
    typeof h === 'object' &&
    h !== null &&
    ['namespace', 'name', 'host', 'state'].every(
      (k) => typeof (h as Record<string, unknown>)[k] === 'string',
    );
  if (!Array.isArray(hosts) || !hosts.every(hostOk)) return 'hosts: not a list of VIP allocations';
  return routesProblem(routes);
}

/** A snapshot read: the entries that did not read back are counted, not fatal. */
export interface ReadSnapshot {
  snapshot: Snapshot;
  badEntries: number;
}

const ROLE = { noun: "the agent's snapshot", flag: '--snapshot-file' };
/** Bigger than any cache --cache-max-bytes allows, as base64 in JSON, and a large table: a bound on reading. */
const MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024;

const invalid = (file: string, why: string) =>
  new MeshdnsError('MESHDNS_SNAPSHOT_INVALID', `${file}: ${why}; it is ignored (the cache starts cold)`);

function isEntry(e: unknown): e is CacheSnapshotEntry {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as Record<string, unknown>;
  return (
    typeof o.body === 'string' &&
    typeof o.do === 'boolean' &&
    Number.isFinite(o.ageMs) &&
    (o.ageMs as number) >= 0 &&
    Number.isInteger(o.hits) &&
    (o.hits as number) >= 0
  );
}

/** Parses a snapshot's text; throws MESHDNS_SNAPSHOT_INVALID for one that cannot be used at all. */
export function parseSnapshot(text: string, file: string): ReadSnapshot {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw invalid(file, `not JSON (${(err as Error).message})`);
  }
  if (typeof o !== 'object' || o === null) throw invalid(file, 'not a JSON object');
  if (o.version !== SNAPSHOT_VERSION) {
    throw invalid(
      file,
      `version ${JSON.stringify(o.version)}, this meshdns reads version ${SNAPSHOT_VERSION}`,
    );
  }
  if (!Number.isFinite(o.writtenAt) || !Number.isInteger(o.pid) || !Array.isArray(o.cache)) {
    throw invalid(file, 'writtenAt, pid or cache missing');
  }
  const cache = o.cache.filter(isEntry);
  const snapshot: Snapshot = {
    version: SNAPSHOT_VERSION,
    writtenAt: o.writtenAt as number,
    pid: o.pid as number,
    cache,
    ...(o.table !== undefined ? { table: o.table as TableSnapshot } : {}),
    ...(o.vips !== undefined ? { vips: o.vips as SnapshotVips } : {}),
  };
  return { snapshot, badEntries: o.cache.length - cache.length };
}

/**
 * Reads `file`; undefined when there is none. A snapshot fills the cache and may fill the table, so one
 * that another user could have written is not trusted: it must be owned by this user (or root) and
 * writable by no one else.
 */
export async function readSnapshot(file: string): Promise<ReadSnapshot | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(await stateTarget(file, ROLE), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw invalid(file, `cannot be read (${(err as Error).message})`);
  }
  try {
    const st = await handle.stat();
    const uid = process.getuid?.() ?? 0;
    if (!st.isFile()) throw invalid(file, 'not a regular file');
    if ((st.uid !== uid && st.uid !== 0) || (st.mode & 0o022) !== 0) {
      throw invalid(
        file,
        `owned by uid ${st.uid} with mode ${(st.mode & 0o777).toString(8)}: only a file of uid ${uid} (or root) that no one else can write is trusted`,
      );
    }
    if (st.size > MAX_SNAPSHOT_BYTES)
      throw invalid(file, `${st.size} bytes, more than ${MAX_SNAPSHOT_BYTES}`);
    return parseSnapshot(await handle.readFile('utf8'), file);
  } finally {
    await handle.close();
  }
}

/** Writes `snapshot` to `file` whole (through its symlinks), readable by this user only. */
export async function writeSnapshot(file: string, snapshot: Snapshot): Promise<void> {
  try {
    const target = await stateTarget(file, ROLE);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    await replaceFile(target, JSON.stringify(snapshot), 0o600);
  } catch (err) {
    const why = `${file}: cannot write the agent's snapshot (${(err as Error).message}); the next process starts cold`;
    throw new MeshdnsError('MESHDNS_SNAPSHOT_WRITE', why, { cause: err });
  }
}
