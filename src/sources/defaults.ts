// Defaults of the manifests source, in one place (STYLE.md §9).

/** Quiet time after the last file event before the folder is re-read (editors write in bursts). */
export const DEFAULT_DEBOUNCE_MS = 100;
/** A folder that never goes quiet (a file rewritten in a loop) is still re-read this often, in debounce periods. */
export const DEBOUNCE_MAX_PERIODS = 10;
/** Bound on one manifest file (SPEC §10): a bigger file is reported and its last good objects kept. */
export const DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024;
/** How often to try to watch the folder again after the watcher failed or the folder vanished. */
export const WATCH_RETRY_MS = 1000;
