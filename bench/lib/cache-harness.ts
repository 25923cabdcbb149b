// The small harness the cache scenarios run on: settings from BENCH_* variables, child processes in
// one group (pinned with taskset, all stopped at the end), and the tools they need. Its shapes match
// bench/run.ts's ScenarioContext, so the scenarios can run under either.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CacheBenchConfig {
  seconds: number;
  runs: number;
  warmupSeconds: number;
  clients: number;
  threads: number;
  outstanding: number;
  /** Servers under test on this CPU, dnsperf and helpers on the other; undefined: no pinning. */
  serverCpu?: number;
  clientCpu?: number;
}

function intFromEnv(key: string, fallback: number, min: number): number {
  const text = process.env[key];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`${key}="${text}": expected a whole number >= ${min}`);
  return n;
}

export function cacheBenchConfig(): CacheBenchConfig {
  const pin = process.env.BENCH_PIN !== '0' && os.availableParallelism() >= 2;
  return {
    seconds: intFromEnv('BENCH_SECONDS', 10, 1),
    runs: intFromEnv('BENCH_RUNS', 3, 1),
    warmupSeconds: intFromEnv('BENCH_WARMUP_SECONDS', 2, 0),
    clients: intFromEnv('BENCH_CLIENTS', 4, 1),
    threads: intFromEnv('BENCH_THREADS', 1, 1),
    outstanding: intFromEnv('BENCH_OUTSTANDING', 100, 1),
    serverCpu: pin ? 0 : undefined,
    clientCpu: pin ? 1 : undefined,
  };
}

/** What a scenario needs of a child process (bench/lib/processes.ts's BenchProcess fits it too). */
export interface Proc {
  readonly label: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly running: boolean;
  readonly stdout: string;
  readonly stderr: string;
  stop(): Promise<void>;
}

/** Starts child processes, pinned to a CPU with taskset (bench/lib/processes.ts's ProcessGroup fits too). */
export interface Spawner {
  spawn(label: string, command: string, args: string[], opts?: { cpu?: number; cwd?: string }): Proc;
}

/** What a scenario is given: the shape of bench/run.ts's ScenarioContext. */
export interface CacheScenarioContext {
  config: CacheBenchConfig;
  group: Spawner;
  tools: Map<string, string>;
  workDir: string;
  log: (line: string) => void;
}

const STDERR_TAIL = 4096;
const KILL_GRACE_MS = 2000;

export class Child implements Proc {
  readonly exited: Promise<number | null>;
  private out = '';
  private err = '';
  private code: number | null | undefined;

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (d: Buffer) => {
      this.out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.err = (this.err + d.toString()).slice(-STDERR_TAIL);
    });
    this.exited = new Promise((resolve) => {
      child.on('error', (e) => {
        this.err += `\n${e.message}`;
        this.code = null;
        resolve(null);
      });
      child.on('exit', (code) => {
        this.code = code;
        resolve(code);
      });
    });
  }

  get running(): boolean {
    return this.code === undefined;
  }
  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err.trim();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), KILL_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

export class ChildGroup implements Spawner {
  private readonly members = new Set<Child>();

  spawn(label: string, command: string, args: string[], opts: { cpu?: number; cwd?: string } = {}): Child {
    const [cmd, argv] =
      opts.cpu === undefined ? [command, args] : ['taskset', ['-c', String(opts.cpu), command, ...args]];
    const proc = new Child(label, spawn(cmd, argv, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
    this.members.add(proc);
    void proc.exited.then(() => this.members.delete(proc));
    return proc;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.members].map((p) => p.stop()));
  }

  killAllNow(): void {
    for (const p of this.members) if (p.running) p.child.kill('SIGKILL');
  }
}

export interface BenchTool {
  bin: string;
  pkg: string;
}

const SBIN = ['/usr/sbin', '/sbin', '/usr/local/sbin'];

function which(bin: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), ...SBIN].filter(Boolean)) {
    try {
      accessSync(path.join(dir, bin), constants.X_OK);
      return path.join(dir, bin);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Absolute paths by executable; missing Debian packages are installed when we are root. */
export function ensureBenchTools(tools: readonly BenchTool[], log: (l: string) => void): Map<string, string> {
  const missing = tools.filter((t) => !which(t.bin));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((t) => t.pkg))];
    if (process.getuid?.() !== 0)
      throw new Error(`missing ${missing.map((t) => t.bin)}: apt-get install -y ${pkgs.join(' ')}`);
    log(`installing ${pkgs.join(' ')} with apt-get`);
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  return new Map(tools.map((t) => [t.bin, which(t.bin) ?? t.bin]));
}
