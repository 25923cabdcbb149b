// A Node process's resident memory outside V8's heaps, from /proc/PID/smaps: files (the binary, shared
// libraries), the brk heap and the mmap area (glibc's malloc arenas, thread stacks), where Buffers,
// sockets and every native structure live. V8 asks for its heap pages at random addresses of its own
// choosing (its page allocator's address hints), below the kernel's mmap area, so they are the
// anonymous mappings left out here. Sampled directly, this does not depend on when V8 last collected.
import { readFileSync } from 'node:fs';

/** Linux x86-64 puts the mmap area just under the 47-bit user space top (128 TiB); V8's hints stay below. */
const MMAP_AREA_FROM = 0x7e00_0000_0000;

/** MiB resident outside V8's heaps, or NaN once the process is gone. */
export function nativeMiB(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return Number.NaN;
  }
  return nativeKiB(text) / 1024;
}

/** The sum of `Rss:` over the mappings of smaps text that are not V8's heap pages. */
export function nativeKiB(smaps: string): number {
  let kib = 0;
  let counted = false;
  for (const line of smaps.split('\n')) {
    // A mapping's header: "start-end perms offset dev inode [path]"; its fields follow, one a line.
    const header = /^([0-9a-f]+)-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      const path = header[2]!;
      counted = path !== '' || Number.parseInt(header[1]!, 16) >= MMAP_AREA_FROM;
      continue;
    }
    if (counted && line.startsWith('Rss:')) kib += Number(line.split(/\s+/)[1]);
  }
  return kib;
}
