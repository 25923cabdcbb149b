// Writing a file whole: readers see the old content or the new, never a part. Apart from store.ts so
// that the agent's snapshot (agent/snapshot.ts) writes as the state file does without loading the model.
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces `path` with `text`: a temp file beside it, fsync, rename, fsync of the folder. `text` may
 * come in pieces (a big file written a piece at a time, the event loop turning between them).
 */
export async function replaceFile(
  path: string,
  text: string | AsyncIterable<string>,
  mode = 0o644,
): Promise<void> {
  const temp = `${path}.${process.pid}.${++tempCounter}.tmp`;
  try {
    // `wx`: a file or link left at the temp name (it is guessable) is never followed or written through.
    const handle = await open(temp, 'wx', mode);
    try {
      if (typeof text === 'string') await handle.writeFile(text);
      else for await (const piece of text) await writeAll(handle, Buffer.from(piece));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (e) {
    // Best effort: the temp file may not exist, or its folder may not be a folder at all.
    await rm(temp, { force: true }).catch(() => undefined);
    throw e;
  }
  // The rename is durable only once the folder is synced; some file systems cannot, which is no error.
  const folder = await open(dirname(path), 'r').catch(() => undefined);
  if (!folder) return;
  await folder.sync().catch(() => undefined);
  await folder.close();
}

let tempCounter = 0;

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; ) at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
}
