// `meshdns serve`: controller (manifests folder) and agent in one process.
// SPEC §4: the agent answers from the first moment, so what it needs to forward is imported here, and
// the controller's worker is started just before the listeners bind (it loads and reads on the other
// core meanwhile); the controller's own modules (the mesh model and its validation, the manifests
// source) load in its worker thread, never on this one.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { Agent, SnapshotKeeper } from '../agent/index.js';
import type { AppliedView, ControllerWorker } from '../controller/index.js';
import type { MeshdnsError } from '../errors.js';
import { createLogger } from '../logger.js';
import type { MeshSettings } from '../model/index.js';
import { type AgentFlags, exitOnSignal, newAgent, readResolvers } from './agent-setup.js';
import { parseListen, parseMilliseconds, parsePositiveInt } from './flags.js';
import { agentExtraOptions } from './serve-options.js';
import { handOver, keepSnapshots, snapshotBeside, snapshotFile } from './snapshot-setup.js';
import type { WorkloadFlags } from './workload.js';

export interface ServeFlags extends WorkloadFlags, AgentFlags {
  manifestsRescanInterval: string;
  maxManifestBytes: string;
  stateLockWait: string;
}

/**
 * What the agent's thread needs of the controller: the worker's handle and the flag checks. The
 * model (zod), the manifests source (yaml) and the allocator load in the worker thread only, so
 * loading them never holds the loop that answers DNS.
 */
function loadController() {
  return Promise.all([import('../controller/remote.js'), import('./workload.js')]);
}

/** Hands a new view to the agent: the table, and the VIPs with the proxy's routes. */
function useView(agent: Agent, view: AppliedView, logger: Logger): void {
  agent.setTable(view.table, view.update.errors, view.change);
  // Only when they changed, and as functions: the lists are made when read (a data plane, /debug/vips);
  // at 100,000 entries, building them with every view stalled answering for a quarter of a second.
  // A snapshot's VIPs are replaced by the first view's even when it has none.
  if (!view.vipsChanged && !agent.vipsFromSnapshot) return;
  agent
    .setVips(view.vips, view.routes)
    .catch((err: Error) => logger.error({ err: err.message }, 'VIP routes'));
}

/** `--mesh-config`, read at start and again on SIGHUP (the manifests source is loaded with it). */
async function readMeshConfig(meshConfigFile: string | undefined): Promise<MeshSettings | undefined> {
  if (!meshConfigFile) return undefined;
  const { loadMeshConfigFile } = await import('../sources/index.js');
  return loadMeshConfigFile(meshConfigFile);
}

export async function serve(flags: ServeFlags, cmd?: Command): Promise<void> {
  const rescanIntervalMs = parseMilliseconds('--manifests-rescan-interval', flags.manifestsRescanInterval);
  const maxManifestBytes = parsePositiveInt('--max-manifest-bytes', flags.maxManifestBytes);
  // 0: a locked state file fails at once, as before restarts shared the port.
  const stateLockWaitMs =
    flags.stateLockWait === '0' ? 0 : parseMilliseconds('--state-lock-wait', flags.stateLockWait);
  const logger = createLogger(flags.logLevel);
  const signals = exitOnSignal(logger);
  const resolvers = await readResolvers(flags);
  const { upstreams, searchDomains } = resolvers;
  const listen = parseListen('--dns-listen', flags.dnsListen);
  const extra = agentExtraOptions(flags);

  // The flags first (a typo fails before anything binds), then the controller's thread: it loads its
  // modules and reads the folder on the other core while this thread loads the answering path.
  const [{ ControllerWorker }, { resolveWorkloadFlags }] = await loadController();
  const setup = resolveWorkloadFlags(flags);
  const meshConfig = await readMeshConfig(setup.meshConfigFile);
  const scope = { namespace: setup.namespace, clusterDomain: setup.clusterDomain, searchDomains };
  // SPEC §4: the listener answers from the first moment, forwarding every query until the first
  // table is in (a big folder takes a while to load); it closes again if the workload's capture is off.
  // Its successor is the serve of the same state file (port-claim.ts).
  const agent = newAgent(flags, resolvers, logger, cmd, `serve:${resolve(setup.stateFile)}`);
  const controller = new ControllerWorker({
    manifestsDir: setup.manifestsDir,
    scope,
    ...(setup.workload ? { workload: setup.workload } : {}),
    ...(meshConfig ? { meshConfig } : {}),
    stateFile: setup.stateFile,
    ranges: setup.ranges,
    graceMs: setup.graceMs,
    holdbackMs: setup.holdbackMs,
    perName: setup.perName,
    rescanIntervalMs,
    maxManifestBytes,
    stateLockWaitMs,
    logLevel: flags.logLevel,
    parseRoutes: extra.vipProxy !== undefined,
    onView: (view) => useView(agent, view, logger),
    onError: (err) => logger.error({ err: (err as Error).message }, 'a new view could not be applied'),
  });
  // Per-name VIPs: the controller's thread allocates; names answered are reported well within the idle time.
  agent.usePerName(
    { ask: (name, wildcard) => controller.askPerName(name, wildcard) },
    (names) => controller.touchPerName(names),
    Math.min(30_000, Math.max(500, Math.floor(setup.perName.idleMs / 20))),
  );
  const started = controller.start();
  // Settled here too, so that a controller failing while the listener binds is not an unhandled rejection.
  started.catch(() => undefined);
  let keeper: SnapshotKeeper | undefined;
  signals.closing(() => Promise.all([handOver(agent, () => keeper), controller.close()]));
  process.on('SIGHUP', () => void reload(flags, setup.meshConfigFile, agent, controller, logger));
  const snapshot = snapshotFile(flags, () => snapshotBeside(setup.stateFile));
  try {
    await agent.start();
    keeper = keepSnapshots(agent, snapshot, logger);
    await started;
  } catch (err) {
    await Promise.all([agent.close(), controller.close()]);
    throw err;
  }

  // SIGTERM during start-up: the controller stopped before its first view; the signal's handler exits.
  if (controller.closing) return;
  const { capture, autoAllocate } = controller.config();
  const workload = setup.workload && `${setup.workload.namespace}/${setup.workload.name}`;
  if (!capture.value) {
    // SPEC §2: this workload's DNS is not proxied, so there is nothing to listen for.
    await keeper?.close();
    keeper = undefined;
    await agent.close();
    logger.info(
      { workload, DNS_CAPTURE: false, source: capture.detail },
      `DNS capture is off for workload ${workload}: not serving DNS`,
    );
    return;
  }
  logger.info(
    {
      listen: `${listen.host}:${agent.port}`,
      admin: extra.admin ? `${extra.admin.host}:${agent.adminPort}` : null,
      cache: agent.cache !== undefined,
      metrics: extra.registry !== undefined,
      upstreams: upstreams.map((u) => `${u.host}:${u.port}`),
      namespace: setup.namespace,
      workload,
      searchDomains,
      DNS_AUTO_ALLOCATE: autoAllocate.value,
      stateFile: setup.stateFile,
      snapshotFile: snapshot ?? null,
      ...(agent.portNotShared ? { portNotShared: agent.portNotShared } : {}),
      ...(agent.portPredecessor ? { handOverFrom: agent.portPredecessor } : {}),
    },
    'serving DNS',
  );
}

/** SIGHUP, as daemons do: re-read resolv.conf and `--mesh-config`, rescan the folder. Bad input keeps the old. */
async function reload(
  flags: ServeFlags,
  meshConfigFile: string | undefined,
  agent: Agent,
  controller: ControllerWorker,
  logger: Logger,
): Promise<void> {
  logger.info('SIGHUP: re-reading resolv.conf, --mesh-config and the manifests folder');
  try {
    const inputs = await readResolvers(flags);
    const meshConfig = await readMeshConfig(meshConfigFile);
    agent.setUpstreams(inputs.upstreams);
    agent.setSearchDomains(inputs.searchDomains);
    const scope = { ...controller.scope(), searchDomains: inputs.searchDomains };
    controller.reload({ scope, ...(meshConfig ? { meshConfig } : {}) });
  } catch (err) {
    const e = err as MeshdnsError;
    logger.error({ code: e.code }, `reload failed, keeping what was loaded before: ${e.message}`);
  }
}
