// Printing for the introspection commands: aligned columns for people, JSON for programs.
import type { MeshdnsError } from '../errors.js';

/**
 * How a printing command ends when stdout fails. The reader going away (`meshdns table | head -1`:
 * EPIPE) is a normal end, so exit 0 quietly, as `head` users expect; any other write error (ENOSPC
 * on a full disk, EIO) is one line on stderr and exit 1, never a stack.
 */
export function exitOnStdoutError(): void {
  let failed = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (failed) return;
    failed = true;
    if (err.code === 'EPIPE') process.exit(0);
    // "ENOSPC: no space left on device, write" → "no space left on device".
    const why = /^[A-Z]+: ([^,]+)/.exec(err.message)?.[1] ?? err.message;
    process.stderr.write(`meshdns: cannot write to stdout: ${err.code ?? 'error'} (${why})\n`);
    process.exit(1);
  });
  // A closed stderr leaves nowhere to report anything; it must not turn into a stack either.
  process.stderr.on('error', () => {});
}

/** Columns padded to their widest cell; the last one is left ragged. */
export function printColumns(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [head, ...rows]) {
    process.stdout.write(
      `${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`,
    );
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Problems found on the way go to stderr, so stdout stays the command's output. */
export function printErrors(errors: readonly MeshdnsError[]): void {
  for (const e of errors) process.stderr.write(`${e.code}: ${e.message}\n`);
}
