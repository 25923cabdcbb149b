// Loaded with `node --test --import` into the process node --test starts for each test file. Once the
// file's tests are done, anything still holding the event loop (timer, server, socket, child process,
// watcher) fails the file with its name: the job Istio's leak.CheckMain does for goroutines. So does a
// `meshdns-…` file or folder it leaves in the temporary folder (temp-paths.ts).
//
// A file that closes everything exits on its own, so the check costs it nothing: the poll below is
// unref'd and only ever fires in a process that something else keeps alive. Without the guard such a
// file hangs the run (node --test waits for the child) or, where it exits later, passes silently.
import { after } from 'node:test';
import { checkLeftovers, ourTempEntries } from './temp-paths.js';

// Handles closed by a top-level `after` of the file (which runs after this one) or still closing get
// this long, counted from the last change in the list, before they count as leaked.
const GRACE_MS = 2000;
const POLL_MS = 100;
// A list that never settles (a leaked interval opening sockets) still fails, after this long.
const MAX_WAIT_MS = 5 * GRACE_MS;

// node --test sets this in each file's process; elsewhere (the runner itself, a plain `node` run) the
// guard does nothing, so importing node:test does not start a test report of its own.
if (process.env.NODE_TEST_CONTEXT !== undefined) install();

function install(): void {
  // Stdio pipes and whatever the runner holds before the file loads are not the file's.
  const baseline = process.getActiveResourcesInfo();
  // Files too: what the file's tests (and the processes they start) leave in the temporary folder.
  const temp = ourTempEntries();
  process.on('exit', () => checkLeftovers(temp));
  after(() => {
    const start = Date.now();
    let last = leaked(baseline);
    let since = start;
    const poll = setInterval(() => {
      const now = Date.now();
      const open = leaked(baseline);
      if (open.join() !== last.join()) {
        last = open;
        since = now;
      }
      if (open.length === 0 || (now - since < GRACE_MS && now - start < MAX_WAIT_MS)) return;
      clearInterval(poll);
      fail(open);
    }, POLL_MS);
    poll.unref();
  });
}

/** The resource kinds open now that were not open at load, sorted, one entry per resource. */
function leaked(baseline: readonly string[]): string[] {
  const left = [...baseline];
  const open: string[] = [];
  for (const kind of process.getActiveResourcesInfo()) {
    const i = left.indexOf(kind);
    if (i >= 0) left.splice(i, 1);
    else open.push(kind);
  }
  return open.sort();
}

function fail(open: string[]): void {
  const counts = new Map<string, number>();
  for (const kind of open) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  const kinds = [...counts].map(([kind, n]) => `${n} ${kind}`).join(', ');
  const detail = describeHandles()
    .map((d) => `\n  ${d}`)
    .join('');
  process.stderr.write(
    `leak-guard: ${process.argv[1]} left open after its tests: ${kinds}${detail}\n` +
      'leak-guard: close it in the test (or its after hook); see test/helpers/leak-guard.ts\n',
  );
  // The file's test results are already reported; the exit code is what makes node --test fail it.
  process.exit(1);
}

/**
 * What the open handles are, where Node can say: addresses of servers and sockets, the command of a
 * child process. Timers carry nothing to name them by; they show only in the count.
 */
function describeHandles(): string[] {
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.();
  const out: string[] = [];
  for (const h of handles ?? []) {
    const d = describeHandle(h as Record<string, unknown>);
    if (d !== undefined) out.push(d);
  }
  return out;
}

function describeHandle(h: Record<string, unknown>): string | undefined {
  const name = h?.constructor?.name;
  const call = (m: string): unknown => {
    try {
      return typeof h[m] === 'function' ? (h[m] as () => unknown).call(h) : undefined;
    } catch {
      return undefined; // address() throws on a socket that is not bound yet
    }
  };
  if (name === 'ChildProcess') return `child process ${h.pid}: ${(h.spawnargs as string[]).join(' ')}`;
  if (name === 'FSWatcher') return 'file system watcher (fs.watch)';
  if (name === 'Server') return `server listening on ${JSON.stringify(call('address'))}`;
  if (name === 'Socket' && typeof h.type === 'string')
    return `${h.type} socket ${JSON.stringify(call('address'))}`;
  if (name === 'Socket' && h.remotePort !== undefined) {
    return `TCP socket ${h.localAddress}:${h.localPort} -> ${h.remoteAddress}:${h.remotePort}`;
  }
  return undefined;
}
