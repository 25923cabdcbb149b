// Child processes of a benchmark: started in one group, all stopped at the end, on error and on Ctrl-C.
import { type ChildProcess, spawn } from 'node:child_process';

const STDERR_TAIL_BYTES = 4096;
const STDOUT_TAIL_BYTES = 64 * 1024;
const KILL_GRACE_MS = 2000;

/**
 * The environment of a process under test: this one's, without NODE_EXTRA_CA_CERTS, which a
 * workplace may set for its TLS proxy. Node reads the whole file at start (about 60 ms here, three
 * times a bare start), a cost no deployment of meshdns pays; first-answer times would carry it.
 */
export function benchEnv(): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
  return env;
}

export interface SpawnOptions {
  /** Pin the process to this CPU with taskset (it execs, so the pid stays the process's own). */
  cpu?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export class BenchProcess {
  readonly exited: Promise<number | null>;
  private stdoutText = '';
  private stderrText = '';
  private exitCode: number | null | undefined;

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => {
      // A tail is enough (dnsperf's statistics come last) and a chatty server cannot fill memory.
      this.stdoutText = (this.stdoutText + chunk.toString()).slice(-STDOUT_TAIL_BYTES);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrText = (this.stderrText + chunk.toString()).slice(-STDERR_TAIL_BYTES);
    });
    this.exited = new Promise((resolve) => {
      child.on('error', (err) => {
        this.stderrText += `\n${err.message}`;
        this.exitCode = null;
        resolve(null);
      });
      child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? null : 0);
        resolve(this.exitCode);
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last 64 KiB of stdout. */
  get stdout(): string {
    return this.stdoutText;
  }

  /** The last few KiB of stderr, for error messages. */
  get stderr(): string {
    return this.stderrText.trim();
  }

  /** SIGTERM, then SIGKILL if it has not exited after a grace period. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), KILL_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

export class ProcessGroup {
  private readonly members = new Set<BenchProcess>();

  spawn(label: string, command: string, args: string[], opts: SpawnOptions = {}): BenchProcess {
    const [cmd, argv] =
      opts.cpu === undefined ? [command, args] : ['taskset', ['-c', String(opts.cpu), command, ...args]];
    const env = opts.env ?? benchEnv();
    const child = spawn(cmd, argv, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = new BenchProcess(label, child);
    this.members.add(proc);
    void proc.exited.then(() => this.members.delete(proc));
    return proc;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.members].map((p) => p.stop()));
  }

  /** Last resort from a synchronous 'exit' handler: no waiting possible, so SIGKILL. */
  killAllNow(): void {
    for (const p of this.members) if (p.running) p.child.kill('SIGKILL');
  }
}
