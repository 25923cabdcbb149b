// `meshdns controller`: the control plane alone — resources from a manifests folder (`--manifests`) or
// the Kubernetes API (`--kube`), VIPs allocated once for the mesh, each agent's table streamed over xDS.
import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { AdminServer } from '../admin/index.js';
import { ControllerAdminSource, ControlPlane, StateFileStore } from '../controller/index.js';
import { KubeStatusStore } from '../controller/kube/index.js';
import { DEFAULTS } from '../defaults.js';
import type { MeshdnsError } from '../errors.js';
import { createLogger } from '../logger.js';
import type { MeshSettings } from '../model/index.js';
import { ManifestSource } from '../sources/index.js';
import { KubeSource, loadKubeConfig } from '../sources/kube/index.js';
import type { XdsTls } from '../xds/index.js';
import { exitOnSignal } from './agent-setup.js';
import { flagError, parseListen, parseMilliseconds, parsePositiveInt, readFlagFile } from './flags.js';
import { flagSources } from './serve-options.js';
import { resolveWorkloadFlags, type WorkloadFlags } from './workload.js';

export interface ControllerFlags extends Omit<WorkloadFlags, 'manifests'> {
  manifests?: string;
  kube?: boolean;
  kubeconfig?: string;
  xdsListen: string;
  xdsAdvertise?: string;
  adminListen: string;
  adminAllowRemote?: boolean;
  metrics: boolean;
  istioNamespace: string;
  leaderElect: boolean;
  leaderElectLeaseDuration: string;
  leaderElectRenewDeadline: string;
  leaderElectRetryPeriod: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  debounce: string;
  manifestsRescanInterval: string;
  maxManifestBytes: string;
  logLevel: string;
}

function tlsOptions(flags: ControllerFlags): XdsTls | undefined {
  if (!flags.tlsCert && !flags.tlsKey) {
    if (flags.tlsCa) throw flagError('--tls-ca', flags.tlsCa, 'needs --tls-cert and --tls-key');
    return undefined;
  }
  if (!flags.tlsCert || !flags.tlsKey) {
    throw flagError(
      flags.tlsCert ? '--tls-cert' : '--tls-key',
      flags.tlsCert ?? flags.tlsKey ?? '',
      'needs both --tls-cert and --tls-key',
    );
  }
  return {
    cert: readFlagFile('--tls-cert', flags.tlsCert),
    key: readFlagFile('--tls-key', flags.tlsKey),
    ...(flags.tlsCa ? { ca: readFlagFile('--tls-ca', flags.tlsCa) } : {}),
  };
}

export async function runController(flags: ControllerFlags, cmd?: Command): Promise<void> {
  if (Boolean(flags.manifests) === Boolean(flags.kube)) {
    throw flagError('--manifests', flags.manifests ?? '', 'give exactly one of --manifests DIR and --kube');
  }
  const admin = parseListen('--admin-listen', flags.adminListen);
  const debounceMs = parseMilliseconds('--debounce', flags.debounce);
  const tls = tlsOptions(flags);
  const logger = createLogger(flags.logLevel);
  const signals = exitOnSignal(logger);
  const plane = flags.kube
    ? await kubePlane(flags, debounceMs, tls, logger)
    : await folderPlane(flags, debounceMs, tls, logger);
  const registry = flags.metrics ? await metricsRegistry() : undefined;
  const adminServer = new AdminServer(
    { ...admin, allowRemote: flags.adminAllowRemote === true },
    new ControllerAdminSource(plane, registry, { flags: cmd ? flagSources(cmd) : {} }),
  );
  // The admin API first: liveness answers while a big folder loads.
  await adminServer.start();
  signals.closing(() => adminServer.close());
  signals.closing(() => plane.close());
  await plane.start();
  const meshConfigFile = flags.meshConfig;
  process.on('SIGHUP', () => void reload(meshConfigFile, plane, logger));
  logger.info({ admin: `${admin.host}:${adminServer.port}` }, 'controller ready');
}

/** SIGHUP, as `serve` takes it: re-read `--mesh-config`, rescan the folder. Bad input keeps the old. */
async function reload(
  meshConfigFile: string | undefined,
  plane: ControlPlane,
  logger: Logger,
): Promise<void> {
  logger.info('SIGHUP: re-reading --mesh-config and the source');
  try {
    const meshConfig = await meshConfigOf(meshConfigFile);
    plane.reload(meshConfigFile ? { meshConfig } : {});
  } catch (err) {
    const e = err as MeshdnsError;
    logger.error({ code: e.code }, `reload failed, keeping what was loaded before: ${e.message}`);
  }
}

/** Common to both sources. */
function planeOptions(flags: ControllerFlags, tls: XdsTls | undefined, logger: Logger) {
  const setup = resolveWorkloadFlags({ ...flags, manifests: flags.manifests ?? '.' });
  return {
    setup,
    common: {
      ranges: setup.ranges,
      graceMs: setup.graceMs,
      holdbackMs: setup.holdbackMs,
      perName: setup.perName,
      xds: { listen: flags.xdsListen, ...(tls ? { tls } : {}) },
      logger,
    },
  };
}

async function meshConfigOf(file: string | undefined): Promise<MeshSettings | undefined> {
  return file ? (await import('../sources/index.js')).loadMeshConfigFile(file) : undefined;
}

/** `--manifests DIR`: the folder, watched, and the state file (as `serve`). */
async function folderPlane(
  flags: ControllerFlags,
  debounceMs: number,
  tls: XdsTls | undefined,
  logger: Logger,
): Promise<ControlPlane> {
  const { setup, common } = planeOptions(flags, tls, logger);
  const meshConfig = await meshConfigOf(setup.meshConfigFile);
  logger.info({ stateFile: setup.stateFile }, 'VIPs are kept in the state file');
  return new ControlPlane({
    ...common,
    debounceMs,
    origin: setup.manifestsDir,
    store: new StateFileStore(setup.manifestsDir, setup.stateFile, logger),
    source: (onChange) =>
      new ManifestSource({
        dir: setup.manifestsDir,
        debounceMs,
        rescanIntervalMs: parseMilliseconds('--manifests-rescan-interval', flags.manifestsRescanInterval),
        maxFileBytes: parsePositiveInt('--max-manifest-bytes', flags.maxManifestBytes),
        logger,
        onChange,
      }),
    ...(meshConfig ? { meshConfig } : {}),
  });
}

/**
 * `--kube`: informers on the API, VIPs in each ServiceEntry's status.addresses, written by the replica
 * holding the Lease (every replica serves agents from its own informers).
 */
async function kubePlane(
  flags: ControllerFlags,
  debounceMs: number,
  tls: XdsTls | undefined,
  logger: Logger,
): Promise<ControlPlane> {
  if (flags.stateFile)
    throw flagError('--state-file', flags.stateFile, 'with --kube VIPs are kept in status.addresses');
  const { setup, common } = planeOptions(flags, tls, logger);
  const kubeConfig = loadKubeConfig(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {});
  const meshConfig = await meshConfigOf(setup.meshConfigFile);
  if (flags.xdsAdvertise) listenAddress(flags.xdsAdvertise, '--xds-advertise');
  let source: KubeSource | undefined;
  let plane: ControlPlane | undefined;
  // Followers forward per-name VIP requests to the leader at the address it writes in the Lease.
  const advertise = () => {
    if (flags.xdsAdvertise) return flags.xdsAdvertise;
    const ip = process.env.POD_IP;
    const port = plane?.port;
    if (!ip || !port) return undefined;
    return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  };
  plane = new ControlPlane({
    ...common,
    debounceMs,
    origin: `the Kubernetes API at ${kubeConfig.getCurrentCluster()?.server ?? '?'}`,
    store: new KubeStatusStore({
      kubeConfig,
      logger,
      version: () => source?.servedVersion('ServiceEntry'),
      identity: process.env.POD_NAME || hostname(),
      leaseNamespace: process.env.POD_NAMESPACE || DEFAULTS.istioNamespace,
      leaderElect: flags.leaderElect,
      ranges: setup.ranges,
      advertise,
      lease: {
        leaseDurationMs: parseMilliseconds('--leader-elect-lease-duration', flags.leaderElectLeaseDuration),
        renewDeadlineMs: parseMilliseconds('--leader-elect-renew-deadline', flags.leaderElectRenewDeadline),
        retryPeriodMs: parseMilliseconds('--leader-elect-retry-period', flags.leaderElectRetryPeriod),
      },
    }),
    source: (onChange) => {
      source = new KubeSource({
        kubeConfig,
        istioNamespace: flags.istioNamespace,
        // The plane paces builds (a leading edge, status read-backs apart); the source hands each event
        // on at once. A folder keeps its own debounce: a file being written needs time to settle.
        debounceMs: 0,
        logger,
        onChange,
      });
      return source;
    },
    ...(meshConfig ? { meshConfig } : {}),
  });
  return plane;
}

/** A host:port flag, checked at the edge. */
function listenAddress(value: string, flag: string): void {
  const port = Number(value.slice(value.lastIndexOf(':') + 1));
  if (!value.includes(':') || !Number.isInteger(port) || port < 1 || port > 65535)
    throw flagError(flag, value, 'is not host:port');
}

async function metricsRegistry() {
  const { processMetrics, Registry } = await import('../metrics.js');
  return processMetrics(new Registry());
}
