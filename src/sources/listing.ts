// Which files of a manifests folder are manifests: the walk shared by full scans and by the partial
// refreshes that follow file events, so both see the same set.
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Logger } from 'pino';
import { MeshdnsError } from '../errors.js';
import { FSIO_STATUS, loadFsioAddon } from '../netio/index.js';
import type { Pacer } from './pacing.js';
import { settled } from './read-ahead.js';
import { RACY_MS } from './tuning.js';

const MANIFEST = /\.(ya?ml|json)$/i;

/** A name the walk reads: `*.yaml`, `*.yml`, `*.json`, not a dot-file. */
export function isManifestName(name: string): boolean {
  return !name.startsWith('.') && MANIFEST.test(name);
}

// Node's fs messages already start with the code: `ENOENT: no such file or directory, scandir 'x'`.
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export interface Listing {
  /** Possibly a folder's cached list itself: never changed by a caller. */
  files: readonly string[];
  /** Every folder walked, with its inode: a folder deleted and made again must be watched afresh. */
  dirs: Map<string, bigint>;
  /** Every folder's entries were known from before (none changed): `files` is the same set as last time. */
  reused: boolean;
}

/** One folder's own entries, as of its stat. */
interface FolderEntries {
  ino: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** The folder had not changed for a while when it was read: a same-stat folder has the same entries. */
  trusted: boolean;
  /** FolderRead's, of the listing these entries come from; undefined without the addon. */
  digest: string | undefined;
  files: string[];
  links: string[];
  /** Which of `links` led to a file at the last walk: a change there changes the listing too. */
  linked: boolean[];
  subdirs: string[];
}

export interface FolderListerOptions {
  logger?: Logger;
  pacer?: Pacer;
  /** A folder changed less than this before it was read is read again at the next walk (RACY_MS). */
  racyMs?: number;
  /** Wall-clock milliseconds, compared with the folders' times; injectable for tests. */
  now?: () => number;
  /** How a folder is listed with a digest (readFolder; undefined: with node:fs); injectable for tests. */
  read?: (dir: string) => Promise<FolderRead | undefined>;
}

/** A folder as one readdir saw it: a digest of its entries, and the entries, decoded only when asked. */
export interface FolderRead {
  /** The same whenever the names and types of the entries that are not dot-names are, in any order. */
  digest: string;
  /** Those entries: name, and type (`f` file, `d` folder, `l` symlink, `o` other, `?` gone while read). */
  entries(): Iterable<[name: string, type: string]>;
}

/** The folder listed by the addon (fsio.c's listDirs) on libuv's pool; undefined without it or on an error. */
export async function readFolder(dir: string): Promise<FolderRead | undefined> {
  const { binding } = loadFsioAddon();
  if (!binding) return undefined;
  const got = await settled(() => binding.listDirs([dir]));
  if (!got || got[0][0] !== FSIO_STATUS.read) return undefined;
  const [meta, bytes] = got;
  const at = meta[6]!;
  const end = at + 16 + meta[2]!;
  return {
    digest: `${meta[1]}:${bytes.toString('hex', at, at + 16)}`,
    *entries() {
      for (let i = at + 16; i < end; ) {
        const nul = bytes.indexOf(0, i + 1);
        yield [bytes.toString('utf8', i + 1, nul), String.fromCharCode(bytes[i]!)];
        i = nul + 1;
      }
    },
  };
}

/** A node:fs Dirent's type, as FolderRead gives it. */
function direntType(entry: Dirent): string {
  return entry.isDirectory() ? 'd' : entry.isFile() ? 'f' : entry.isSymbolicLink() ? 'l' : 'o';
}

/**
 * Walks a manifests folder, reading again only the folders whose stat changed. Adding, removing or
 * renaming an entry moves its folder's mtime and ctime (POSIX), so an unchanged folder has the same
 * entries: a rescan of a folder of 50,000 files lists nothing, and keeps no new copy of their paths.
 * A folder whose stat changed is compared by its digest first (with the addon): a file saved by rename
 * over itself leaves the entries, and so the list, as they were.
 */
export class FolderLister {
  readonly #known = new Map<string, FolderEntries>();
  readonly #opts: FolderListerOptions;
  readonly #racyNs: bigint;
  readonly #now: () => number;
  readonly #read: (dir: string) => Promise<FolderRead | undefined>;

  constructor(opts: FolderListerOptions = {}) {
    this.#opts = opts;
    this.#racyNs = BigInt(opts.racyMs ?? RACY_MS) * 1_000_000n;
    this.#now = opts.now ?? Date.now;
    this.#read = opts.read ?? readFolder;
  }

  /**
   * Every manifest under `dir` (in no set order: a snapshot sorts them once), and the folders walked.
   * Dot-files and dot-folders are skipped (editor swap files, `.git`, and the `..data` folders of a
   * mounted ConfigMap, whose files are reached through the top-level symlinks). Symlinked folders are
   * not followed, so no loops. Throws MESHDNS_MANIFESTS_DIR when `dir` itself cannot be read.
   * `fresh`: every folder read again, whatever its stat says (a file system whose folders' times do
   * not move, some FUSE mounts, still has its new files seen).
   */
  async list(dir: string, fresh = false): Promise<Listing> {
    const out = { files: [] as string[], dirs: new Map<string, bigint>(), reused: true };
    const errors: MeshdnsError[] = [];
    await this.#walk(dir, true, out, errors, fresh);
    // What was known under `dir` and not walked now is gone.
    for (const known of this.#known.keys()) {
      if ((known === dir || known.startsWith(dir + sep)) && !out.dirs.has(known)) this.#known.delete(known);
    }
    // Folders below the top that cannot be read drop out like deleted ones; say so.
    for (const e of errors) this.#opts.logger?.warn({ code: e.code }, e.message);
    return out;
  }

  async #walk(
    dir: string,
    top: boolean,
    out: { files: string[]; dirs: Map<string, bigint>; reused: boolean },
    errors: MeshdnsError[],
    fresh: boolean,
  ): Promise<void> {
    let entries: FolderEntries;
    try {
      entries = await this.#entries(dir, fresh);
    } catch (e) {
      const error = new MeshdnsError(
        'MESHDNS_MANIFESTS_DIR',
        `${dir}: cannot read the manifests folder (${errorText(e)}); check the path given to --manifests`,
        { cause: e },
      );
      if (top) throw error;
      errors.push(error);
      return;
    }
    out.dirs.set(dir, entries.ino);
    if (this.#known.get(dir) !== entries) out.reused = false;
    this.#known.set(dir, entries);
    // A folder of 50,000 files and nothing else: its list as it is, not a copy (nothing is added to it).
    if (top && entries.links.length === 0 && entries.subdirs.length === 0) out.files = entries.files;
    else for (const file of entries.files) out.files.push(file);
    // A symlink counts when it leads to a file (ConfigMap volumes are symlinks through ..data). One that
    // cannot be followed (a loop, EACCES) is listed too, so reading it reports it naming the file; a
    // dangling one (ENOENT) is a file that is not there, and one to a folder is not a manifest. Where
    // it leads may change without its folder changing: followed on every walk.
    for (const [i, path] of entries.links.entries()) {
      const listed = await stat(path).then(
        (s) => s.isFile(),
        (e: NodeJS.ErrnoException) => e.code !== 'ENOENT',
      );
      if (listed) out.files.push(path);
      if (entries.linked[i] !== listed) out.reused = false;
      entries.linked[i] = listed;
    }
    for (const sub of entries.subdirs) await this.#walk(sub, false, out, errors, fresh);
  }

  /**
   * The folder's entries: the known ones when its stat says nothing changed, or when it is listed again
   * and its digest says the same; else those of the listing.
   */
  async #entries(dir: string, fresh: boolean): Promise<FolderEntries> {
    // The stat comes first: a change after it moves the times the next walk compares.
    const now = BigInt(Math.floor(this.#now())) * 1_000_000n;
    const s = await stat(dir, { bigint: true });
    const known = this.#known.get(dir);
    if (
      !fresh &&
      known?.trusted &&
      known.ino === s.ino &&
      known.mtimeNs === s.mtimeNs &&
      known.ctimeNs === s.ctimeNs
    ) {
      return known;
    }
    const trusted = now - s.mtimeNs > this.#racyNs && now - s.ctimeNs > this.#racyNs;
    // Its times moved (a file saved by rename over itself moves them: every edit in an editor) or are
    // too recent to trust. The same digest keeps the known entries: at 50,000 files no string per entry.
    const read = await this.#read(dir);
    if (known && read && read.digest === known.digest) {
      known.ino = s.ino;
      known.mtimeNs = s.mtimeNs;
      known.ctimeNs = s.ctimeNs;
      known.trusted = trusted;
      return known;
    }
    const entries: FolderEntries = {
      ino: s.ino,
      mtimeNs: s.mtimeNs,
      ctimeNs: s.ctimeNs,
      trusted,
      digest: read?.digest,
      files: [],
      links: [],
      linked: [],
      subdirs: [],
    };
    const listed: Iterable<[string, string]> =
      read?.entries() ?? (await readdir(dir, { withFileTypes: true })).map((e) => [e.name, direntType(e)]);
    const pacer = this.#opts.pacer;
    for (const [name, type] of listed) {
      if (pacer?.due()) await pacer.pace();
      if (name.startsWith('.')) continue;
      const path = join(dir, name);
      if (type === 'd') entries.subdirs.push(path);
      else if (!isManifestName(name)) continue;
      else if (type === 'f') entries.files.push(path);
      else if (type === 'l') entries.links.push(path);
    }
    return entries;
  }
}
