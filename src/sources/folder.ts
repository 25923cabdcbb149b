// Reading a manifests folder into ManifestFiles: list, stat, and re-read only what changed.
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { MeshdnsError } from '../errors.js';
import { ManifestFiles } from './files.js';

const MANIFEST = /\.(ya?ml|json)$/i;

// Node's fs messages already start with the code: `ENOENT: no such file or directory, scandir 'x'`.
function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Every `*.yaml`, `*.yml` and `*.json` under `dir`, sorted, and the folders walked. Dot-files and
 * dot-folders are skipped (editor swap files, `.git`, and the `..data` folders of a mounted
 * ConfigMap, whose files are reached through the top-level symlinks). Symlinked folders are not
 * followed, so no loops.
 */
export async function listManifestFiles(
  dir: string,
  logger?: Logger,
): Promise<{ files: string[]; dirs: string[] }> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new MeshdnsError(
      'MESHDNS_MANIFESTS_DIR',
      `${dir}: cannot read the manifests folder (${errorText(e)}); check the path given to --manifests`,
      { cause: e },
    );
  }
  const files: string[] = [];
  const dirs: string[] = [dir];
  await Promise.all(
    entries.map(async (entry) => {
      if (entry.name.startsWith('.')) return;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        const sub = await listManifestFiles(path, logger).catch((e) => skip(e, logger));
        files.push(...sub.files);
        dirs.push(...sub.dirs);
      } else if (MANIFEST.test(entry.name) && (entry.isFile() || entry.isSymbolicLink())) {
        if (
          entry.isFile() ||
          (await stat(path).then(
            (s) => s.isFile(),
            () => false,
          ))
        )
          files.push(path);
      }
    }),
  );
  return { files: files.sort(), dirs: dirs.sort() };
}

// A sub-folder that cannot be read drops out of the listing like a deleted one; say so.
function skip(e: unknown, logger?: Logger): { files: string[]; dirs: string[] } {
  logger?.warn({ code: (e as MeshdnsError).code }, (e as Error).message);
  return { files: [], dirs: [] };
}

/** A folder's files and what each last contributed; `scan()` brings it up to date. */
export class ManifestFolder {
  readonly files = new ManifestFiles();
  readonly #stamps = new Map<string, string>();
  #dirs: string | undefined;

  constructor(
    readonly dir: string,
    readonly maxFileBytes: number,
    readonly logger?: Logger,
  ) {}

  /**
   * Re-reads the folder. `changed`: some file's contribution changed; `dirsChanged`: the set of
   * folders did, which a watcher must follow. Throws MESHDNS_MANIFESTS_DIR.
   */
  async scan(): Promise<{ changed: boolean; dirsChanged: boolean }> {
    const listed = await listManifestFiles(this.dir, this.logger);
    const present = new Set(listed.files);
    let changed = false;
    for (const file of this.files.files()) {
      if (!present.has(file)) changed = this.#forget(file) || changed;
    }
    for (const file of listed.files) changed = (await this.#refresh(file)) || changed;
    const dirs = listed.dirs.join('\0');
    const dirsChanged = this.#dirs !== undefined && this.#dirs !== dirs;
    this.#dirs = dirs;
    return { changed, dirsChanged };
  }

  #forget(file: string): boolean {
    this.#stamps.delete(file);
    return this.files.delete(file);
  }

  async #refresh(file: string): Promise<boolean> {
    try {
      const s = await stat(file, { bigint: true });
      // Size, inode and times: a rewrite, a rename over the file, or a ConfigMap symlink swap.
      const stamp = `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
      if (this.#stamps.get(file) === stamp) return false;
      this.#stamps.set(file, stamp);
      if (s.size > BigInt(this.maxFileBytes)) {
        const message = `${file}: ${s.size} bytes is over the limit of ${this.maxFileBytes}; split it or raise the limit`;
        return this.files.setUnusable(file, new MeshdnsError('MESHDNS_MANIFEST_UNREADABLE', message));
      }
      const { changed, ignored } = this.files.setText(file, await readFile(file, 'utf8'));
      for (const what of ignored) this.logger?.debug(`ignored ${what}: not a kind meshdns reads`);
      return changed;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return this.#forget(file);
      const error = new MeshdnsError(
        'MESHDNS_MANIFEST_UNREADABLE',
        `${file}: cannot read (${errorText(e)})`,
        {
          cause: e,
        },
      );
      return this.files.setUnusable(file, error);
    }
  }
}
