// Reading a manifests folder into ManifestFiles: a full scan (list, stat, re-read only what
// changed) or a refresh of the paths file events named. Either way a read that raced a writer does
// not count, and the work is paced so the event loop keeps turning.
import { statSync } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { basename, dirname, sep } from 'node:path';
import type { Logger } from 'pino';
import { MeshdnsError } from '../errors.js';
import { type Build, ManifestFiles } from './files.js';
import { errorText, FolderLister, isManifestName, type Listing } from './listing.js';
import { eachLimited, Pacer } from './pacing.js';
import { type FileRead, type ReadRules, readManifestFile } from './read.js';
import { ReadAhead } from './read-ahead.js';
import { Stamps } from './stamps.js';
import { EMPTY_SETTLE_MS, FS_CONCURRENCY, RELIST_EVERY_SCANS } from './tuning.js';

export interface ScanResult {
  /** Some file's contribution, errors or failed state changed: a new snapshot is due. */
  changed: boolean;
  /** Files that were still being written: read them again once they may have settled. */
  changing: string[];
  /**
   * A full scan: how long listing the folder and comparing every file's stat took, reading nothing
   * (what a rescan costs however little changed; the rescan's pace follows it, manifests.ts).
   */
  checkMs?: number;
}

/** What reading a file again did: its contribution changed; it was still being written. */
interface Refreshed {
  changed: boolean;
  changing?: boolean;
}

/** What a path named by a file event is, as far as the folder is concerned. */
type Named = 'file' | 'folder' | 'gone' | 'everything' | 'nothing';

/** A folder's files and what each last contributed; `scan()` and `refresh()` bring it up to date. */
export class ManifestFolder {
  readonly files = new ManifestFiles();
  /** The folders walked and their inodes, for a watcher to follow. */
  dirs = new Map<string, bigint>();
  /** Each file's stat when it was last read: a file whose stat still matches is not read again. */
  readonly #stamps = new Stamps();
  readonly #pacer = new Pacer();
  readonly #lister: FolderLister;
  #scans = 0;

  constructor(
    readonly dir: string,
    readonly rules: ReadRules,
    readonly logger?: Logger,
  ) {
    this.#lister = new FolderLister({ ...(logger ? { logger } : {}), pacer: this.#pacer });
  }

  /** The snapshot of the files as they are, built in slices. */
  build(): Promise<Build> {
    return this.files.buildPaced(() => this.#pacer.pace());
  }

  /**
   * Lists the whole folder and re-reads every file whose stat changed. Throws MESHDNS_MANIFESTS_DIR.
   * Runs every few seconds: when nothing changed it keeps nothing and allocates little (the listing is
   * reused; with the addon, the stats are compared on the thread pool from buffers kept between scans,
   * stamps.ts), so that 50,000 files cost neither the heap a copy of their paths nor much of a GC.
   */
  async scan(): Promise<ScanResult> {
    const started = performance.now();
    // Folders whose times do not move (some FUSE mounts) still have their new files seen, in a minute.
    const fresh = ++this.#scans % RELIST_EVERY_SCANS === 0;
    const listed = await this.#lister.list(this.dir, fresh);
    let changed = false;
    if (!listed.reused || listed.files.length !== this.files.size) {
      const present = new Set(listed.files);
      for (const file of this.files.files()) {
        if (this.#pacer.due()) await this.#pacer.pace();
        if (!present.has(file)) changed = this.#forget(file) || changed;
      }
    }
    this.dirs = listed.dirs;
    const pace = () => this.#pacer.pace();
    let stale = await this.#stamps.changed(listed.files, pace);
    if (stale === undefined) {
      stale = [];
      for (const file of listed.files) {
        if (this.#pacer.due()) await this.#pacer.pace();
        if (!this.#unchanged(file)) stale.push(file);
      }
    }
    const checkMs = performance.now() - started;
    return { ...(await this.#refreshFiles(stale, changed)), checkMs };
  }

  /**
   * Brings the paths that file events named up to date: files read again, folders that appeared
   * listed, what went forgotten. Throws MESHDNS_MANIFESTS_DIR when the folder itself is gone.
   */
  async refresh(paths: Iterable<string>): Promise<ScanResult> {
    const files = new Set<string>();
    let changed = false;
    let rootChecked = false;
    for (const path of paths) {
      await this.#pacer.pace();
      const named = await this.#name(path);
      if (named === 'everything') return this.scan();
      if (named === 'file') files.add(path);
      else if (named === 'folder') {
        const listed = await this.#lister.list(path).catch(() => undefined);
        if (listed) {
          changed = this.#replaceUnder(path, listed) || changed;
          for (const file of listed.files) files.add(file);
        } else changed = this.#forgetUnder(path) || changed;
      } else if (named === 'gone') {
        // `rm -r` of the whole folder empties it first: keep the last snapshot rather than an empty one.
        if (!rootChecked) await this.#checkRoot();
        rootChecked = true;
        changed = this.#forgetUnder(path) || changed;
      }
    }
    return this.#refreshFiles([...files], changed);
  }

  async #refreshFiles(files: string[], changedBefore: boolean): Promise<ScanResult> {
    let changed = changedBefore;
    const changing: string[] = [];
    const note = (file: string, r: Refreshed) => {
      changed = r.changed || changed;
      if (r.changing) changing.push(file);
    };
    // Read ahead, a batch is taken in one go; what it cannot vouch for is read one by one after.
    const ahead = ReadAhead.of(files, this.rules.maxBytes);
    const rest: string[] = ahead ? [] : files;
    for await (const batch of ahead?.batches() ?? []) {
      for (const [i, file] of batch.files.entries()) {
        if (this.#pacer.due()) await this.#pacer.pace();
        const before = this.#toRead(file);
        if (!('rules' in before)) {
          note(file, before);
          continue;
        }
        const read = batch.take(i, before.rules);
        if (read) note(file, this.#take(file, read));
        else rest.push(file);
      }
    }
    await eachLimited(rest, FS_CONCURRENCY, async (file) => note(file, await this.#refresh(file)));
    return { changed, changing: changing.sort() };
  }

  async #name(path: string): Promise<Named> {
    const parent = dirname(path);
    const name = basename(path);
    // An event from a folder no longer walked (renamed away, or a dot-folder): the rescan has it.
    if (!this.dirs.has(parent)) return 'nothing';
    let entry: Awaited<ReturnType<typeof lstat>>;
    try {
      entry = await lstat(path);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : 'everything';
    }
    if (entry.isDirectory()) return name.startsWith('.') ? 'nothing' : 'folder';
    if (isManifestName(name)) return 'file';
    // A symlink that is not a manifest (a ConfigMap's ..data) may lead other files elsewhere.
    return entry.isSymbolicLink() ? 'everything' : 'nothing';
  }

  async #checkRoot(): Promise<void> {
    const ino = await stat(this.dir, { bigint: true }).then(
      (s) => (s.isDirectory() ? s.ino : undefined),
      () => undefined,
    );
    if (ino !== undefined && ino === this.dirs.get(this.dir)) return;
    throw new MeshdnsError(
      'MESHDNS_MANIFESTS_DIR',
      `${this.dir}: the manifests folder is gone or was replaced; check the path given to --manifests`,
    );
  }

  /** A folder listed again: what is under it now is `listed`, nothing else. */
  #replaceUnder(path: string, listed: Listing): boolean {
    const present = new Set(listed.files);
    let changed = false;
    for (const file of this.files.files()) {
      if (isUnder(file, path) && !present.has(file)) changed = this.#forget(file) || changed;
    }
    for (const dir of [...this.dirs.keys()]) if (isUnder(dir, path)) this.dirs.delete(dir);
    for (const [dir, ino] of listed.dirs) this.dirs.set(dir, ino);
    return changed;
  }

  #forgetUnder(path: string): boolean {
    let changed = this.#forget(path);
    if (!this.dirs.has(path)) return changed;
    for (const file of this.files.files()) if (isUnder(file, path)) changed = this.#forget(file) || changed;
    for (const dir of [...this.dirs.keys()]) if (dir === path || isUnder(dir, path)) this.dirs.delete(dir);
    return changed;
  }

  #forget(file: string): boolean {
    this.#stamps.delete(file);
    return this.files.delete(file);
  }

  async #refresh(file: string): Promise<Refreshed> {
    const before = this.#toRead(file);
    if (!('rules' in before)) return before;
    try {
      const read = await readManifestFile(file, before.rules);
      await this.#pacer.pace();
      return this.#take(file, read);
    } catch (e) {
      return this.#failed(file, e);
    }
  }

  /**
   * What a file needs: nothing when its stat says it is as last read (or gone, or not a file), else
   * the rules to read it under. A file read before is read again only when its stat changed; a new one
   * is read at once (the read stats it: one stat less for each of 50,000 files at start). Synchronous,
   * like the read: the source runs on the controller's thread (see read.ts).
   */
  #toRead(file: string): Refreshed | { rules: ReadRules } {
    try {
      if (this.#stamps.has(file)) {
        const s = statSync(file);
        if (!s.isFile()) return { changed: this.#forget(file) };
        if (this.#stamps.matches(file, s)) return { changed: false };
      }
    } catch (e) {
      return this.#failed(file, e);
    }
    // Only a file that had content is held back while it settles: a new file's early read loses nothing.
    const known = this.files.has(file);
    const settleMs = known ? this.rules.settleMs : 0;
    // An emptied file whose objects stand in its place waits longer: a truncating writer may pause.
    const emptySettleMs = known && this.files.hasObjects(file) && settleMs > 0 ? EMPTY_SETTLE_MS : 0;
    return { rules: { maxBytes: this.rules.maxBytes, settleMs, emptySettleMs } };
  }

  /** The file's new content (or that it is being written, gone, too big) taken in. */
  #take(file: string, read: FileRead): Refreshed {
    try {
      return this.#taken(file, read);
    } catch (e) {
      return this.#failed(file, e);
    }
  }

  #taken(file: string, read: FileRead): Refreshed {
    if (read.kind === 'changing') return { changed: this.files.setChanging(file), changing: true };
    if (read.kind === 'not-a-file') return { changed: this.#forget(file) };
    this.#stamps.set(file, read.stamp);
    if (read.kind === 'too-big') {
      const limit = this.rules.maxBytes;
      const message = `${file}: ${read.size} bytes is over the limit of ${limit} (--max-manifest-bytes); split it or raise the limit`;
      return {
        changed: this.files.setUnusable(file, new MeshdnsError('MESHDNS_MANIFEST_UNREADABLE', message)),
      };
    }
    const { changed, ignored } = this.files.setText(file, read.text);
    for (const what of ignored) this.logger?.debug(`ignored ${what}: not a kind meshdns reads`);
    return { changed };
  }

  #failed(file: string, e: unknown): Refreshed {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { changed: this.#forget(file) };
    // Not stamped: the next scan tries again (an EIO or EACCES may pass).
    const message = `${file}: cannot read (${errorText(e)})`;
    const error = new MeshdnsError('MESHDNS_MANIFEST_UNREADABLE', message, { cause: e });
    return { changed: this.files.setUnusable(file, error) };
  }

  /** The file's stat matches the one it was last read with (a file to read, gone or not a file does not). */
  #unchanged(file: string): boolean {
    if (!this.#stamps.has(file)) return false;
    try {
      const s = statSync(file, { throwIfNoEntry: false });
      return s !== undefined && this.#stamps.matches(file, s);
    } catch {
      return false;
    }
  }
}

function isUnder(path: string, dir: string): boolean {
  return path.startsWith(dir + sep);
}
