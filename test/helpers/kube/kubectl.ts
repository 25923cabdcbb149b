// Runs the real `kubectl` against the test API server: its own kubeconfig and discovery cache in a
// temporary folder, so nothing of the user's ~/.kube is read or written.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeApiServer } from './server.js';

export const KUBECTL_MISSING = 'kubectl not installed: apt-get install kubernetes-client';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Kubectl {
  run(args: string[], stdin?: string): Promise<KubectlResult>;
  /** Whether this kubectl has `patch --subresource` (1.24 and later; Debian's 1.20 has not). */
  patchesSubresources(): Promise<boolean>;
  close(): Promise<void>;
}

export async function haveKubectl(): Promise<boolean> {
  return (await exec(['version', '--client'], {})).code === 0;
}

/** A kubectl bound to `api`: every run gets `--kubeconfig` and `--cache-dir` in a folder close() removes. */
export async function kubectlFor(api: KubeApiServer, namespace = 'default'): Promise<Kubectl> {
  const dir = await mkdtemp(join(tmpdir(), 'meshdns-kubectl-'));
  const kubeconfig = await api.writeKubeconfig(dir, namespace);
  const fixed = ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache')];
  return {
    run: (args, stdin) => exec([...fixed, ...args], { stdin }),
    patchesSubresources: async () => (await exec(['patch', '--help'], {})).stdout.includes('--subresource'),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

function exec(args: string[], opts: { stdin?: string | undefined }): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile('kubectl', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
    else child.stdin?.end();
  });
}
