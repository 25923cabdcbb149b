// The server both floods aim at: `meshdns serve` with its defaults on a copy of examples/, its admin API
// on a known port (for /metrics and /debug/upstreams), in front of the synthetic upstream.
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { waitReady } from '../lib/admin-api.js';
import { checkAnswers, type ServerAddress } from '../lib/dns-probe.js';
import { freeDnsPort, freeTcpPort } from '../lib/ports.js';
import { REPO_ROOT, startMeshdns } from '../servers/meshdns.js';
import { type DnsServer, START_DEADLINE_MS } from '../servers/server.js';
import type { ScenarioContext } from './scenario.js';

/** A Service of examples/default-services.yaml and its cluster IP: the "good" name of both floods. */
export const TABLE_NAME = 'productpage.default.svc.cluster.local';
export const TABLE_ADDRESS = '10.96.0.10';

export interface FloodTarget {
  server: DnsServer;
  admin: ServerAddress;
  pid: number;
}

export async function startFloodTarget(
  ctx: ScenarioContext,
  label: string,
  host: string,
  upstream: ServerAddress,
): Promise<FloodTarget> {
  const manifestsDir = path.join(ctx.workDir, `${label}-manifests`);
  await cp(path.join(REPO_ROOT, 'examples'), manifestsDir, { recursive: true });
  const admin = { host, port: await freeTcpPort(host) };
  const server = await startMeshdns(ctx.group, {
    label,
    manifestsDir,
    listen: { host, port: await freeDnsPort(host) },
    upstreams: [upstream],
    searchDomains: ['default.svc.cluster.local'],
    probeName: TABLE_NAME,
    cpu: ctx.config.serverCpu,
    extraArgs: ['--admin-listen', `${admin.host}:${admin.port}`],
  });
  const pid = server.proc.child.pid;
  if (pid === undefined) throw new Error(`${label} has no pid`);
  // It forwards from its first moment (SPEC §4), and the synthetic upstream answers every name: the
  // probe's answer says nothing of the table. Ready means the table is loaded; then the table answers.
  const alive = () => server.proc.running;
  if (
    (await waitReady(admin, { intervalMs: 50, deadline: performance.now() + START_DEADLINE_MS, alive })) ===
    undefined
  )
    throw new Error(`${label} was not ready within ${START_DEADLINE_MS} ms:\n${server.proc.stderr}`);
  const problems = await checkAnswers(server.address, [{ name: TABLE_NAME, address: TABLE_ADDRESS }], {
    authoritative: true,
  });
  if (problems.length > 0) throw new Error(`${label} answers wrong: ${problems.join('; ')}`);
  return { server, admin, pid };
}
