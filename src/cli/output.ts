// Printing for the introspection commands: aligned columns for people, JSON for programs.
import type { MeshdnsError } from '../errors.js';

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
