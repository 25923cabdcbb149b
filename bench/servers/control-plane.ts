// The processes of the controlplane scenario: `meshdns controller` (manifests folder or Kubernetes API),
// the Kubernetes API test server, the launcher of the raw ADS agents, and one real `meshdns agent`.
import path from 'node:path';
import type { ServerAddress } from '../lib/dns-probe.js';
import type { BenchProcess, ProcessGroup } from '../lib/processes.js';
import { REPO_ROOT } from './meshdns.js';

const MESHDNS = path.join(REPO_ROOT, 'bin', 'meshdns');
/**
 * BENCH_CP_CONTROLLER_ROOT: another built checkout whose `meshdns controller` is measured instead, with
 * this checkout's agents, API server and figures (an A/B of the controller alone).
 */
const CONTROLLER = path.join(process.env.BENCH_CP_CONTROLLER_ROOT || REPO_ROOT, 'bin', 'meshdns');
const DIST_BENCH = path.join(REPO_ROOT, 'dist', 'bench');

/** One "tables built" log line of the controller: when it was read, and what it says. */
export interface BuildLine {
  at: number;
  buildMs?: number;
  viewsChanged?: number;
  views?: number;
}

/** A child whose stderr lines (pino JSON) are watched as they come, not only kept as a tail. */
export class LoggedProcess {
  readonly builds: BuildLine[] = [];
  readonly lines: string[] = [];
  private partial = '';

  constructor(readonly proc: BenchProcess) {
    proc.child.stderr?.on('data', (chunk: Buffer) => {
      const text = this.partial + chunk.toString();
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      const at = performance.timeOrigin + performance.now();
      for (const line of lines) this.take(line, at);
    });
  }

  private take(line: string, at: number): void {
    if (this.lines.length < 10_000) this.lines.push(line);
    if (!line.includes('"msg":"tables built"')) return;
    try {
      const o = JSON.parse(line) as { buildMs?: number; viewsChanged?: number; views?: number };
      this.builds.push({ at, buildMs: o.buildMs, viewsChanged: o.viewsChanged, views: o.views });
    } catch {
      this.builds.push({ at });
    }
  }

  /** Resolves once a line matches; rejects when the process exits or the deadline (ms from now) passes. */
  async waitFor(pattern: RegExp, deadlineMs: number): Promise<string> {
    const end = performance.now() + deadlineMs;
    for (;;) {
      const hit = this.lines.find((l) => pattern.test(l));
      if (hit) return hit;
      if (!this.proc.running) throw new Error(`${this.proc.label} exited:\n${this.proc.stderr}`);
      if (performance.now() > end)
        throw new Error(
          `${this.proc.label}: no log line matching ${pattern} in ${deadlineMs} ms:\n${this.proc.stderr}`,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

export type ControllerSource =
  | { kind: 'manifests'; dir: string; stateFile: string }
  | { kind: 'kube'; kubeconfig: string };

export function startController(
  group: ProcessGroup,
  source: ControllerSource,
  xds: ServerAddress,
  nodeFlags: string[],
): LoggedProcess {
  const from =
    source.kind === 'manifests'
      ? ['--manifests', source.dir, '--state-file', source.stateFile]
      : ['--kube', '--kubeconfig', source.kubeconfig, '--no-leader-elect'];
  const args = [
    ...nodeFlags,
    CONTROLLER,
    'controller',
    ...from,
    ...['--xds-listen', `${xds.host}:${xds.port}`, '--admin-listen', '127.0.0.1:0', '--log-level', 'info'],
  ];
  const cwd = path.dirname(path.dirname(CONTROLLER));
  return new LoggedProcess(group.spawn('meshdns controller', process.execPath, args, { cwd }));
}

/**
 * Whether `meshdns controller --kube` is wired in: until it is, the flag is refused at once (before
 * any connection), naming --kube. Any other outcome (an error about the kubeconfig, or a process that
 * keeps running) means it is.
 */
export async function kubeSourceWorks(group: ProcessGroup, workDir: string): Promise<boolean> {
  const proc = group.spawn('meshdns controller --kube probe', process.execPath, [
    MESHDNS,
    'controller',
    ...['--kube', '--kubeconfig', path.join(workDir, 'no-such-kubeconfig')],
    ...['--xds-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--no-leader-elect'],
  ]);
  const exited = await Promise.race([
    proc.exited.then(() => true),
    new Promise((r) => setTimeout(r, 5000, false)),
  ]);
  await proc.stop();
  return !(exited && /--kube.*not wired in/.test(proc.stderr));
}

export interface KubeApiProcess {
  proc: BenchProcess;
  url: string;
  token: string;
  kubeconfig: string;
  objects: number;
}

export async function startKubeApiProcess(
  group: ProcessGroup,
  opts: { entries: number; services: number; namespaces: number; dir: string },
  deadlineMs: number,
): Promise<KubeApiProcess> {
  const proc = group.spawn('kube API test server', process.execPath, [
    path.join(DIST_BENCH, 'servers', 'kube-api.js'),
    JSON.stringify(opts),
  ]);
  const end = performance.now() + deadlineMs;
  while (!proc.stdout.includes('\n')) {
    if (!proc.running) throw new Error(`kube API test server exited:\n${proc.stderr}`);
    if (performance.now() > end) throw new Error(`kube API test server not up in ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { proc, ...(JSON.parse(proc.stdout.split('\n')[0]) as Omit<KubeApiProcess, 'proc'>) };
}

/** A merge patch through the API, as `kubectl patch --type merge` sends it. */
export async function patchServiceEntry(
  api: Pick<KubeApiProcess, 'url' | 'token'>,
  ref: { namespace: string; name: string },
  patch: unknown,
): Promise<void> {
  const url = `${api.url}/apis/networking.istio.io/v1/namespaces/${ref.namespace}/serviceentries/${ref.name}`;
  const res = await fetch(url, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/merge-patch+json' },
    body: JSON.stringify(patch),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`PATCH ${url}: ${res.status} ${text.slice(0, 300)}`);
}

export function startAgents(
  group: ProcessGroup,
  opts: { target: string; agents: number; namespaces: number; records: string },
): BenchProcess {
  // BENCH_CP_PROTOCOL=sotw: state-of-the-world streams, as an Istio agent would speak.
  const protocol = process.env.BENCH_CP_PROTOCOL === 'sotw' ? 'sotw' : 'delta';
  return group.spawn('ADS agents', process.execPath, [
    path.join(DIST_BENCH, 'servers', 'ads-agents.js'),
    JSON.stringify({ ...opts, protocol }),
  ]);
}

/** `meshdns agent` in `namespace`, answering on `dns`; it forwards nothing (port 9 discards). */
export function startRealAgent(
  group: ProcessGroup,
  opts: { controller: ServerAddress; dns: ServerAddress; namespace: string },
): LoggedProcess {
  const args = [
    MESHDNS,
    'agent',
    ...['--controller', `${opts.controller.host}:${opts.controller.port}`],
    ...['--dns-listen', `${opts.dns.host}:${opts.dns.port}`, '--admin-listen', '127.0.0.1:0'],
    ...['--upstream', '127.0.0.1:9', '--upstream-timeout', '300', '--log-level', 'info'],
  ];
  // Without NODE_EXTRA_CA_CERTS, like every process under test (lib/processes.ts says why).
  const { NODE_EXTRA_CA_CERTS: _, ...inherited } = process.env;
  const env = {
    ...inherited,
    POD_NAME: 'bench-real-agent',
    POD_NAMESPACE: opts.namespace,
    ISTIO_META_DNS_CAPTURE: 'true',
    ISTIO_META_DNS_AUTO_ALLOCATE: 'true',
  };
  return new LoggedProcess(group.spawn('meshdns agent', process.execPath, args, { cwd: REPO_ROOT, env }));
}
