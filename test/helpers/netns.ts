// Network namespaces made by a test and removed by it, even when the test fails.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);
const created = new Set<string>();

export function canMakeNetns(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (run via .ci/run or sudo)';
  const probe = spawnSync('ip', ['netns', 'list']);
  if (probe.status !== 0) return 'the ip command (iproute2) cannot list network namespaces here';
  return undefined;
}

export interface Netns {
  name: string;
  /** Runs a command inside the namespace; rejects on non-zero exit. */
  exec(argv: string[], opts?: { timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
  remove(): Promise<void>;
}

export async function createNetns(prefix = 'mdns'): Promise<Netns> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await run('ip', ['netns', 'add', name]);
  created.add(name);
  const exec = (argv: string[], opts: { timeoutMs?: number } = {}) =>
    run('ip', ['netns', 'exec', name, ...argv], { timeout: opts.timeoutMs ?? 20_000 });
  await exec(['ip', 'link', 'set', 'lo', 'up']);
  return {
    name,
    exec,
    remove: async () => {
      created.delete(name);
      await run('ip', ['netns', 'del', name]).catch(() => {});
    },
  };
}

// A failed test must not leave namespaces behind.
process.once('exit', () => {
  for (const name of created) spawnSync('ip', ['netns', 'del', name]);
});
