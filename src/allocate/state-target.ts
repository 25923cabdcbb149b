// Where the state file really is. A write renames a temp file over the target, so the target must be
// the end of the symlink chain (renaming over the link would turn it into a regular file and leave its
// target stale) and must be a regular file: renaming over /dev/null or a FIFO replaces the device.
import { lstat, readlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MeshdnsError } from '../errors.js';

// Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS).
const MAX_LINKS = 40;

function kind(st: Awaited<ReturnType<typeof lstat>>): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'some other kind of file';
}

/** What the file is to the user: named in the errors, with the flag that chooses another. */
export interface FileRole {
  noun: string;
  flag: string;
}

const STATE_FILE: FileRole = { noun: 'the VIP state file', flag: '--state-file' };

function notAFile(file: string, path: string, what: string, role: FileRole): MeshdnsError {
  const via = path === resolve(file) ? '' : ` (it leads to ${path})`;
  const why = `${file}: ${role.noun} is not a regular file but ${what}${via}; meshdns never replaces it. Pass ${role.flag} a regular file, or a path that does not exist yet`;
  return new MeshdnsError('MESHDNS_STATE_NOT_A_FILE', why);
}

/**
 * The path a write replaces: `file` itself, or where its symlinks lead (which need not exist yet).
 * Throws MESHDNS_STATE_NOT_A_FILE when that exists and is not a regular file. `role`: what the file is
 * (the VIP state file, or a restart's snapshot), for the errors.
 */
export async function stateTarget(file: string, role = STATE_FILE): Promise<string> {
  let path = resolve(file);
  for (let i = 0; i < MAX_LINKS; i++) {
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(path);
    } catch (e) {
      // Missing (or a parent is a file): there is nothing to protect; a write reports its own error.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return path;
      throw new MeshdnsError(
        'MESHDNS_STATE_UNREADABLE',
        `${file}: cannot look at ${role.noun} (${(e as Error).message}); fix the path or its permissions`,
        { cause: e },
      );
    }
    if (!st.isSymbolicLink()) {
      if (!st.isFile()) throw notAFile(file, path, kind(st), role);
      return path;
    }
    path = resolve(dirname(path), await readlink(path));
  }
  throw notAFile(file, path, `a chain of more than ${MAX_LINKS} symbolic links`, role);
}
