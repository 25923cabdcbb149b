// One non-recursive watch per folder of the tree. Node's recursive watch on Linux watches each file's
// inode, so after a rename over a file (`sed -i`, an editor's save) it keeps watching the old inode
// and misses every later write (issue 8 finding 7); a folder's watch reports its entries by name,
// whatever inode they have now. Events are hints only: the periodic rescan is the truth.
import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from 'pino';
import { errorText } from './listing.js';

export interface FolderWatchOptions {
  /** `name` is the entry in `dir` that changed; null when the platform did not say. */
  onEvent: (dir: string, name: string | null) => void;
  logger?: Logger;
  /** Said in the warning when a folder cannot be watched. */
  rescanIntervalMs: number;
}

export class FolderWatch {
  readonly #watchers = new Map<string, { ino: bigint; watcher: FSWatcher }>();
  /** Folders that could not be watched (inotify's watch limit): warned about once. */
  readonly #unwatched = new Set<string>();

  constructor(private readonly opts: FolderWatchOptions) {}

  /** Watches exactly these folders (path → inode); returns the ones newly watched. */
  follow(dirs: ReadonlyMap<string, bigint>): string[] {
    for (const [path, w] of this.#watchers) {
      // A folder deleted and made again has a new inode, and the old watch reports nothing.
      if (dirs.get(path) !== w.ino) this.#drop(path);
    }
    const added: string[] = [];
    for (const [path, ino] of dirs) {
      if (this.#watchers.has(path)) continue;
      try {
        const watcher = watch(path, { persistent: true }, (_event, name) => this.opts.onEvent(path, name));
        // The folder went away under its watch: the parent's watch or the rescan will say so.
        watcher.on('error', () => this.#drop(path));
        this.#watchers.set(path, { ino, watcher });
        this.#unwatched.delete(path);
        added.push(path);
      } catch (e) {
        if (!this.#unwatched.has(path)) {
          this.opts.logger?.warn(
            { dir: path },
            `cannot watch ${path} (${errorText(e)}); its changes are seen by the periodic rescan (every ${this.opts.rescanIntervalMs} ms, or longer for a folder whose rescan takes more than a ninth of that) (raise fs.inotify.max_user_watches if the limit was reached)`,
          );
        }
        this.#unwatched.add(path);
      }
    }
    return added;
  }

  close(): void {
    for (const path of [...this.#watchers.keys()]) this.#drop(path);
  }

  #drop(path: string): void {
    this.#watchers.get(path)?.watcher.close();
    this.#watchers.delete(path);
  }
}
