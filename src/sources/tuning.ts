// The manifests source's internal tuning: no flag or option sets these, and nothing outside
// sources/ uses them. The defaults a user can see or change live in src/defaults.ts.
/**
 * After a rescan, the next waits at least this many times as long as its listing and stat comparison
 * took (the flag --manifests-rescan-interval is the least wait): rescans take at most a tenth of the
 * time however big the folder is. At 200,000 files that check takes about a second on this machine,
 * which every 2 s kept a quarter of a core busy while nothing changed.
 */
export const RESCAN_WAIT_PER_PASS = 9;
/** A folder that never goes quiet (a file rewritten in a loop) is still re-read this often, in debounce periods. */
export const DEBOUNCE_MAX_PERIODS = 10;
/** How often to try to watch the folder again after the watcher failed or the folder vanished. */
export const WATCH_RETRY_MS = 1000;
/** A read that raced a writer (the file changed while it was read) is tried this many times in all. */
export const READ_ATTEMPTS = 3;
/** Pause between those tries: a writer's next chunk usually lands within a few ms. */
export const READ_RETRY_MS = 5;
/**
 * A file that had objects and is now empty (`open('w')` truncates before the text lands) counts as
 * emptied only after this long: a writer may pause far longer than the settle time on a loaded host.
 */
export const EMPTY_SETTLE_MS = 2000;
/** `loadManifests` (no last good state to keep) waits this many debounce periods for a file being written. */
export const LOAD_SETTLE_ATTEMPTS = 5;
/** File system calls in flight at once: libuv has 4 threads, more only queue (and hold memory). */
export const FS_CONCURRENCY = 16;
/** Longest run of scanning/parsing work before the event loop gets a turn (one big file is one run). */
export const SLICE_MS = 4;
/** Files or objects gathered into a snapshot between two turns of the event loop. */
export const BUILD_SLICE = 2000;
/**
 * A folder changed less than this before it was read may change again without its times moving (file
 * times come from a coarse clock: a few ms on ext4, xfs and tmpfs, 2 s on FAT): its listing is not
 * reused, however its stat compares.
 */
export const RACY_MS = 3000;
/** Every this many rescans, every folder is listed again whatever its stat says (one minute at the default 2 s). */
export const RELIST_EVERY_SCANS = 30;
/** Scans that read fewer files read them one by one (read-ahead.ts): the thread pool's round trip is not worth it. */
export const READ_AHEAD_MIN = 32;
/** Files per work item of a read-ahead. */
export const READ_AHEAD_BATCH = 128;
/** Bytes per work item at most (the files after are read by readManifestFile). */
export const READ_AHEAD_BATCH_BYTES = 8 << 20;
/**
 * Work items started ahead of the one being taken from: with the one being read, two of libuv's four
 * threads, which the whole process shares (state-file writes, snapshots).
 */
export const READ_AHEAD = 1;
/**
 * Files per work item of a rescan's stat check (stamps.ts): one of libuv's threads, which the whole
 * process shares, is held for one item's stats at most (about 20 ms here; 200,000 files in one item
 * held it for up to 1.2 s), and a file that comes or goes packs its item's paths again, not all.
 */
export const STAMP_CHECK_BATCH = 4096;
