// meshdns under test: `meshdns serve` as a child process, built from this checkout (dist/).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerAddress, waitUntilAnswering } from '../lib/dns-probe.js';
import type { ProcessGroup } from '../lib/processes.js';
import { type DnsServer, START_DEADLINE_MS } from './server.js';

/** The checkout's root: this file runs as dist/bench/servers/meshdns.js. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface MeshdnsOptions {
  /** Name in the result table; default "meshdns". */
  label?: string;
  manifestsDir: string;
  listen: ServerAddress;
  /** Where misses are forwarded; a benchmark of the table points it at a port nobody answers. */
  upstreams: ServerAddress[];
  searchDomains: string[];
  /** A name in the table to poll until the server answers. */
  probeName: string;
  cpu?: number;
  /** Extra node flags, e.g. ["--cpu-prof", "--cpu-prof-dir=..."] (BENCH_MESHDNS_NODE_FLAGS). */
  nodeFlags?: string[];
  upstreamTimeoutMs?: number;
  /** Further `serve` flags, e.g. ["--no-metrics"], ["--cache-size", "20000"]. */
  extraArgs?: string[];
  /** Another built checkout to run instead of this one (a baseline commit); default: this checkout. */
  root?: string;
}

export function meshdnsVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function stateFileOf(opts: MeshdnsOptions): string {
  const name = `${opts.listen.host}-${opts.listen.port}.allocations.json`;
  return path.join(path.dirname(path.resolve(opts.manifestsDir)), '.meshdns', `bench-${name}`);
}

export async function startMeshdns(group: ProcessGroup, opts: MeshdnsOptions): Promise<DnsServer> {
  const args = [
    ...(opts.nodeFlags ?? []),
    path.join(opts.root ?? REPO_ROOT, 'bin', 'meshdns'),
    'serve',
    ['--manifests', opts.manifestsDir],
    ['--dns-listen', `${opts.listen.host}:${opts.listen.port}`],
    opts.upstreams.flatMap((u) => ['--upstream', `${u.host}:${u.port}`]),
    opts.searchDomains.flatMap((d) => ['--search', d]),
    opts.upstreamTimeoutMs ? ['--upstream-timeout', String(opts.upstreamTimeoutMs)] : [],
    // A port of its own for the admin API, so two instances (or one beside a real agent) never clash.
    ['--admin-listen', '127.0.0.1:0'],
    // And a state file of its own: two instances on one folder would otherwise share (and lock) it.
    ['--state-file', stateFileOf(opts)],
    ['--log-level', 'warn'],
    opts.extraArgs ?? [],
    // BENCH_MESHDNS_ARGS: more `serve` flags for this checkout's meshdns (not a baseline's), e.g. --workers 2.
    opts.root === undefined ? (process.env.BENCH_MESHDNS_ARGS?.split(/\s+/).filter(Boolean) ?? []) : [],
  ].flat();
  const label = opts.label ?? 'meshdns';
  const proc = group.spawn(label, process.execPath, args, { cpu: opts.cpu, cwd: opts.root ?? REPO_ROOT });
  await waitUntilAnswering(opts.listen, opts.probeName, proc, START_DEADLINE_MS);
  return { label, address: opts.listen, proc, version: meshdnsVersion() };
}
