// Loads the native batch file reader built by build.ts (fsio.c), once. Where it is absent (no compiler at
// build time, another OS) or fails to load, the manifests source reads each file with node:fs.
import { fileURLToPath } from 'node:url';
import { requireAddon } from './addon.js';

/** The addon's file name, beside this module in dist/src/netio/. */
export const FSIO_ADDON_FILE = 'fsio.node';

/** Points the loader at another file (a test names a missing one to see the fallback). */
export const FSIO_ADDON_PATH_ENV = 'MESHDNS_FSIO_ADDON';

/** What fsio.c says of each file (its first field). Below 0: -errno. */
export const FSIO_STATUS = { read: 0, notAFile: 1, tooBig: 2, changed: 3, skipped: 4 } as const;

/** fsio.c's function; its contract is written beside it in the C source. */
export interface FsioBinding {
  /**
   * Reads the files in order on libuv's thread pool until their bytes reach `batchBytes`. Per file,
   * `fields` numbers in the first array: status, ino, size, mtimeMs, ctimeMs, readAtMs, and the offset
   * of its bytes in the buffer (status `read`).
   */
  readFiles(paths: readonly string[], maxBytes: number, batchBytes: number): Promise<[Float64Array, Buffer]>;
  /**
   * Stats the first `count` paths of `paths` (each ended by a NUL; symlinks followed, as statSync) and
   * compares each with its four numbers in `stamps` (ino, size, mtimeMs, ctimeMs; ino NaN: not
   * checked): the indices of those that changed, are gone or are not regular files. Neither buffer
   * may be written to until it settles.
   */
  checkStamps(paths: Buffer, stamps: Float64Array, count: number): Promise<Uint32Array>;
  /**
   * Lists the folders: per folder, status (`read` when listed), the count of its entries that are not
   * dot-names, their bytes, and (field 6) the offset in the buffer of 16 bytes that are the same
   * whenever the set of those entries' names and types is, in any order; the entries follow them, each
   * a type byte (`f`, `d`, `l`, `o`, `?`), the name and a NUL.
   */
  listDirs(paths: readonly string[]): Promise<[Float64Array, Buffer]>;
  readonly fields: number;
}

export type FsioAddonState = { binding: FsioBinding; file: string } | { binding: undefined; reason: string };

let state: FsioAddonState | undefined;

export function fsioAddonFile(): string {
  return process.env[FSIO_ADDON_PATH_ENV] || fileURLToPath(new URL(`./${FSIO_ADDON_FILE}`, import.meta.url));
}

/** The reader addon, or why there is none. Loaded on first use, then the same answer for the process. */
export function loadFsioAddon(): FsioAddonState {
  state ??= requireAddon<FsioBinding>(fsioAddonFile());
  return state;
}
