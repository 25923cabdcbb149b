// Which files of a manifests folder are manifests: the walk shared by full scans and by the partial
// refreshes that follow file events, so both see the same set.
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { MeshdnsError } from '../errors.js';
import type { Pacer } from './pacing.js';

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
  files: string[];
  /** Every folder walked, with its inode: a folder deleted and made again must be watched afresh. */
  dirs: Map<string, bigint>;
}

/**
 * Every manifest under `dir` (in no set order: a snapshot sorts them once), and the folders walked. Dot-files and dot-folders are skipped
 * (editor swap files, `.git`, and the `..data` folders of a mounted ConfigMap, whose files are
 * reached through the top-level symlinks). Symlinked folders are not followed, so no loops.
 * Throws MESHDNS_MANIFESTS_DIR when `dir` itself cannot be read.
 */
export async function listManifestFiles(dir: string, logger?: Logger, pacer?: Pacer): Promise<Listing> {
  const out: Listing = { files: [], dirs: new Map() };
  const errors: MeshdnsError[] = [];
  await walk(dir, true, out, errors, pacer);
  // Folders below the top that cannot be read drop out like deleted ones; say so.
  for (const e of errors) logger?.warn({ code: e.code }, e.message);
  return out;
}

async function walk(
  dir: string,
  top: boolean,
  out: Listing,
  errors: MeshdnsError[],
  pacer?: Pacer,
): Promise<void> {
  let entries: Dirent[];
  let ino: bigint;
  try {
    entries = await readdir(dir, { withFileTypes: true });
    ino = (await stat(dir, { bigint: true })).ino;
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
  out.dirs.set(dir, ino);
  const subdirs: string[] = [];
  const links: string[] = [];
  for (const entry of entries) {
    await pacer?.pace();
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) subdirs.push(path);
    else if (!isManifestName(entry.name)) continue;
    else if (entry.isFile()) out.files.push(path);
    else if (entry.isSymbolicLink()) links.push(path);
  }
  // A symlink counts when it leads to a file (ConfigMap volumes are symlinks through ..data). One that
  // cannot be followed (a loop, EACCES) is listed too, so reading it reports it naming the file; a
  // dangling one (ENOENT) is a file that is not there, and one to a folder is not a manifest.
  for (const path of links) {
    const listed = await stat(path).then(
      (s) => s.isFile(),
      (e: NodeJS.ErrnoException) => e.code !== 'ENOENT',
    );
    if (listed) out.files.push(path);
  }
  for (const sub of subdirs) await walk(sub, false, out, errors, pacer);
}
