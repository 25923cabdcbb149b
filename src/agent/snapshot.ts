// A restart's snapshot (issue 14 item 3): what an agent writes as it stops, for the process that takes
// its port over — its cache and its last name table. Versioned, written whole (temp, fsync, rename, as
// the state file is), readable by its owner only (it lists the names looked up). Reading it is never
// fatal: a file that is damaged, of another version or not safe to trust is reported and ignored.
//
// Version 2 is JSON lines: a header, then the cache, the packed names, the VIPs and the routes in parts
// of a few hundred kB, one per line, so that reading and writing it run in slices on the thread that
// answers (50,000 names and their VIPs: 18 MB; one JSON.parse of it held that thread for 50-90 ms, and
// one JSON.stringify for as long). Version 1, one JSON document, is still read.
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HostVips } from '../allocate/index.js';
// The files themselves, not allocate/index.ts: that loads the model (zod), which this thread never needs.
import { replaceFile } from '../allocate/replace-file.js';
import { stateTarget } from '../allocate/state-target.js';
import { MeshdnsError } from '../errors.js';
import type { Slicer, TableSnapshot } from '../nametable/index.js';
import type { CacheSnapshotEntry } from '../upstream/index.js';
import { routesProblem, type VipRoute } from '../vip/routes.js';

export const SNAPSHOT_VERSION = 2;
/** The one-document version a predecessor from before version 2 wrote. */
const ONE_DOCUMENT = 1;

export interface Snapshot {
  version: typeof SNAPSHOT_VERSION | typeof ONE_DOCUMENT;
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

/** What is wrong with a snapshot's VIPs, or undefined when they can be used; checked in `slicer`'s slices. */
export async function vipsSnapshotProblem(v: unknown, slicer?: Slicer): Promise<string | undefined> {
  if (typeof v !== 'object' || v === null) return 'not VIPs';
  const { hosts, routes } = v as Record<string, unknown>;
  const hostOk = (h: unknown) =>
    typeof h === 'object' &&
    h !== null &&
    ['namespace', 'name', 'host', 'state'].every(
      (k) => typeof (h as Record<string, unknown>)[k] === 'string',
    );
  if (!Array.isArray(hosts) || !hosts.every(hostOk)) return 'hosts: not a list of VIP allocations';
  return routesProblem(routes, slicer);
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

/** Records per line: each line is a few hundred kB at most, parsed in a millisecond or two. */
const PER_LINE = 500;

/** A line after the header: what it holds, and its part of that. */
type Line = ['cache', unknown[]] | ['names', string] | ['hosts', unknown[]] | ['routes', unknown[]];

/** The snapshot as version 2's lines, each made only when the one before has been taken; `slicer` pauses between them. */
export async function* snapshotLines(snapshot: Snapshot, slicer?: Slicer): AsyncGenerator<string> {
  const lines: (() => Line)[] = [];
  const inParts = (what: 'cache' | 'hosts' | 'routes', list: unknown[]) => {
    for (let i = 0; i < list.length; i += PER_LINE) lines.push(() => [what, list.slice(i, i + PER_LINE)]);
  };
  inParts('cache', snapshot.cache);
  for (const part of snapshot.table?.packed ?? []) lines.push(() => ['names', part]);
  if (snapshot.vips) {
    inParts('hosts', snapshot.vips.hosts);
    inParts('routes', snapshot.vips.routes);
  }
  const header = {
    version: SNAPSHOT_VERSION,
    writtenAt: snapshot.writtenAt,
    pid: snapshot.pid,
    lines: lines.length,
    // The table's names are lines of their own; the VIPs are all lines, which `true` announces.
    ...(snapshot.table ? { table: { diff: snapshot.table.diff } } : {}),
    ...(snapshot.vips ? { vips: true } : {}),
  };
  yield `${JSON.stringify(header)}\n`;
  for (const line of lines) {
    if (slicer?.due()) await slicer.pause();
    yield `${JSON.stringify(line())}\n`;
  }
}

/**
 * Parses a snapshot's text, a line at a time with `slicer`'s pauses between; throws
 * MESHDNS_SNAPSHOT_INVALID for one that cannot be used at all.
 */
export async function parseSnapshot(
  text: string | Buffer,
  file: string,
  slicer?: Slicer,
): Promise<ReadSnapshot> {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  const lineAt = (start: number) => {
    const end = buf.indexOf(10, start);
    return {
      line: buf.toString('utf8', start, end < 0 ? buf.length : end),
      next: end < 0 ? buf.length : end + 1,
    };
  };
  let { line, next } = lineAt(0);
  const o = parseJson(line, file, 'the header');
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw invalid(file, 'not a JSON object');
  const header = o as Record<string, unknown>;
  if (header.version === ONE_DOCUMENT) return fromDocument(header, file);
  if (header.version !== SNAPSHOT_VERSION) {
    throw invalid(
      file,
      `version ${JSON.stringify(header.version)}, this meshdns reads version ${SNAPSHOT_VERSION}`,
    );
  }
  if (
    !Number.isFinite(header.writtenAt) ||
    !Number.isInteger(header.pid) ||
    !Number.isInteger(header.lines) ||
    (header.lines as number) < 0 ||
    (header.vips !== undefined && header.vips !== true)
  ) {
    throw invalid(file, 'writtenAt, pid, lines or vips missing or wrong');
  }
  const cache: unknown[] = [];
  const packed: string[] = [];
  const hosts: unknown[] = [];
  const routes: unknown[] = [];
  for (let n = 1; n <= (header.lines as number); n++) {
    if (next >= buf.length) throw invalid(file, `${n - 1} of ${header.lines} lines: cut short`);
    if (slicer?.due()) await slicer.pause();
    ({ line, next } = lineAt(next));
    const l = parseJson(line, file, `line ${n + 1}`);
    if (!Array.isArray(l)) throw invalid(file, `line ${n + 1}: not a [what, part] pair`);
    const [what, part] = l as Line;
    const list = what === 'cache' ? cache : what === 'hosts' ? hosts : what === 'routes' ? routes : undefined;
    if (what === 'names' && typeof part === 'string') packed.push(part);
    else if (list !== undefined && Array.isArray(part)) for (const item of part) list.push(item);
    else throw invalid(file, `line ${n + 1}: not a [what, part] pair`);
  }
  if (next < buf.length) throw invalid(file, `more than the ${header.lines} lines its header counts`);
  const table = header.table as { diff?: unknown } | undefined;
  return fromDocument(
    {
      ...header,
      cache,
      ...(table !== undefined ? { table: { ...table, packed } } : {}),
      ...(header.vips === true ? { vips: { hosts, routes } } : {}),
    },
    file,
  );
}

function parseJson(line: string, file: string, where: string): unknown {
  try {
    return JSON.parse(line);
  } catch (err) {
    throw invalid(file, `${where}: not JSON (${(err as Error).message})`);
  }
}

/** The snapshot a whole document (version 1, or version 2's lines put together) describes. */
function fromDocument(o: Record<string, unknown>, file: string): ReadSnapshot {
  if (!Number.isFinite(o.writtenAt) || !Number.isInteger(o.pid) || !Array.isArray(o.cache)) {
    throw invalid(file, 'writtenAt, pid or cache missing');
  }
  const cache = o.cache.filter(isEntry);
  const snapshot: Snapshot = {
    version: o.version as Snapshot['version'],
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
export async function readSnapshot(file: string, slicer?: Slicer): Promise<ReadSnapshot | undefined> {
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
    return await parseSnapshot(await handle.readFile(), file, slicer);
  } finally {
    await handle.close();
  }
}

/** Writes `snapshot` to `file` whole (through its symlinks), readable by this user only; in slices with `slicer`. */
export async function writeSnapshot(file: string, snapshot: Snapshot, slicer?: Slicer): Promise<void> {
  try {
    const target = await stateTarget(file, ROLE);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    await replaceFile(target, snapshotLines(snapshot, slicer), 0o600);
  } catch (err) {
    const why = `${file}: cannot write the agent's snapshot (${(err as Error).message}); the next process starts cold`;
    throw new MeshdnsError('MESHDNS_SNAPSHOT_WRITE', why, { cause: err });
  }
}
