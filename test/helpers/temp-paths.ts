// Files and folders a test file makes in the system's temporary folder, removed when its process
// exits: after every test and hook, so after the `serve` and agent processes its hooks stop. Those
// write their snapshot beside the state file as they exit (README "Restarts"), and a removal in an
// `after` hook registered before the hook that stops them (node:test runs them in order) ran first and
// left the snapshot, or the folder it recreated, behind.
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const paths = new Set<string>();
let listening = false;

/** Removes `path` (a file, or a folder and all in it) when this process exits. */
export function removeAtExit(...path: string[]): void {
  for (const p of path) paths.add(p);
  if (listening) return;
  listening = true;
  process.on('exit', removeNow);
}

function removeNow(): void {
  for (const p of paths) rmSync(p, { recursive: true, force: true });
  paths.clear();
}

/**
 * The entries of the temporary folder named like ours (`meshdns-…`), but for the runtime folder every
 * `serve` shares (`meshdns-<uid>`, its port claims: src/server/port-claim.ts).
 */
export function ourTempEntries(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith('meshdns-') && !/^meshdns-\d+$/.test(name));
}

/**
 * Fails the process (exit code 1) when it leaves `meshdns-…` entries in the temporary folder that were
 * not there at `baseline`. Called from an exit listener (leak-guard.ts): it removes what removeAtExit
 * holds first, since that listener may be registered after this one.
 */
export function checkLeftovers(baseline: readonly string[]): void {
  removeNow();
  const before = new Set(baseline);
  const left = ourTempEntries().filter((name) => !before.has(name));
  if (left.length === 0) return;
  process.stderr.write(
    `leak-guard: ${process.argv[1]} left in ${tmpdir()}: ${left.join(', ')}\n` +
      'leak-guard: remove it with removeAtExit (test/helpers/temp-paths.ts)\n',
  );
  process.exitCode = 1;
}
