// Runs the real CLI (`bin/meshdns`) as a child process, as a user would.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { snapshotBeside } from '../../src/cli/snapshot-setup.js';
import { encodeQuery } from './dns-client.js';
import { removeAtExit } from './temp-paths.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = `${ROOT}bin/meshdns`;

/**
 * `serve` of the examples with a state file of the test file's own (kept out of the checkout's
 * .meshdns/, which `npm start` uses), removed after the file's tests; call at the top of a test file.
 * `args(upstream)` asks that upstream (default: one nobody answers on).
 */
export function serveExamples(name: string): { args: (upstream?: string) => string[]; state: string } {
  const state = join(tmpdir(), `meshdns-${name}-${process.pid}.json`);
  // The state file, its backup, and the snapshot a stopped serve writes beside it (as it exits: after
  // the hook that stops it).
  removeAtExit(state, `${state}.bak`, snapshotBeside(state));
  const args = (upstream = '127.0.0.1:9') => [
    ...['serve', '--manifests', 'examples', '--upstream', upstream],
    ...['--search', 'default.svc.cluster.local', '--state-file', state],
  ];
  return { args, state };
}

let snapshots: string | undefined;
let agents = 0;

/**
 * An agent's snapshot by default goes to the system's temporary folder, named by its DNS port
 * (agentSnapshotFile): one left by an earlier test's agent on the same port would give a new agent
 * that test's table before its controller sends one. Each agent started here gets a file of its own
 * unless the test names one.
 */
function ownSnapshot(args: string[]): string[] {
  if (args[0] !== 'agent' || args.includes('--snapshot-file') || args.includes('--no-snapshot')) return [];
  if (snapshots === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'meshdns-test-snapshots-'));
    snapshots = dir;
    removeAtExit(dir);
  }
  return ['--snapshot-file', join(snapshots, `agent-${++agents}.snapshot.json`)];
}

export interface Running {
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * `serve` processes by DNS port: `serve` answers (forwarding) before its table is loaded, so waiting
 * for it means waiting for its "serving DNS" line too.
 */
const servers = new Map<number, Running>();

export function startCli(
  args: string[],
  opts: { detached?: boolean; command?: string[]; env?: Record<string, string> } = {},
): Running {
  const [cmd, ...pre] = opts.command ?? [process.execPath, BIN];
  // Several agents run at once in some tests: each gets its own admin port unless the test picks one.
  const daemon = ['serve', 'agent', 'controller'].includes(args[0] ?? '');
  const admin = daemon && !args.includes('--admin-listen') ? ['--admin-listen', '127.0.0.1:0'] : [];
  const child = spawn(cmd, [...pre, ...args, ...admin, ...ownSnapshot(args)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached,
    ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const running: Running = {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) {
        if (opts.detached && child.pid) process.kill(-child.pid, 'SIGTERM');
        else child.kill('SIGTERM');
      }
      return exited;
    },
  };
  const listen = ['serve', 'agent'].includes(args[0] ?? '')
    ? args[args.indexOf('--dns-listen') + 1]
    : undefined;
  const port = Number(listen?.slice(listen.lastIndexOf(':') + 1));
  if (args.includes('--dns-listen') && port > 0) servers.set(port, running);
  return running;
}

/** Resolves once the server answers a UDP query (and, for a `serve` started here, has its table), or rejects after `timeoutMs`. */
export async function waitForDns(host: string, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A header without a question gets FORMERR at once, whatever the upstreams do.
  const query = encodeQuery('ready.invalid', 'A').subarray(0, 12);
  query.writeUInt16BE(0, 4);
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      const t = setTimeout(() => {
        s.close();
        resolve(false);
      }, 200);
      s.on('error', () => {
        clearTimeout(t);
        s.close();
        resolve(false);
      });
      s.on('message', () => {
        clearTimeout(t);
        s.close();
        resolve(true);
      });
      s.send(query, port, host);
    });
    if (ok) {
      const running = servers.get(port);
      if (running) await waitForOutput(running, /"msg":"(serving DNS|[^"]*not serving DNS)"/, timeoutMs);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no DNS answer from ${host}:${port} within ${timeoutMs} ms`);
}

/** Runs the CLI (or `opts.script`, another entry of it) to completion. */
export function runCli(
  args: string[],
  opts: { script?: string; env?: Record<string, string> } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [opts.script ?? BIN, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Resolves once the process has written a line matching `pattern`, or rejects after `timeoutMs`. */
export async function waitForOutput(running: Running, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(running.output())) {
    if (Date.now() > deadline || running.child.exitCode !== null) {
      throw new Error(`no output matching ${pattern} within ${timeoutMs} ms:\n${running.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Retries `check` until it passes or `timeoutMs` is over; the last failure is thrown. */
export async function eventually(check: () => Promise<void>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
