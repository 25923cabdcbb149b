// `meshdns controller`: the control plane alone — resources from a manifests folder (`--manifests`) or
// the Kubernetes API (`--kube`), VIPs allocated once for the mesh, each agent's table streamed over xDS.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { AdminServer } from '../admin/index.js';
import { ControllerAdminSource, ControlPlane, StateFileStore } from '../controller/index.js';
import { createLogger } from '../logger.js';
import { ManifestSource } from '../sources/index.js';
import type { XdsTls } from '../xds/index.js';
import { exitOnSignal } from './agent-setup.js';
import { flagError, parseListen, parseMilliseconds, parsePositiveInt } from './flags.js';
import { flagSources } from './serve-options.js';
import { resolveWorkloadFlags, type WorkloadFlags } from './workload.js';

export interface ControllerFlags extends Omit<WorkloadFlags, 'manifests'> {
  manifests?: string;
  kube?: boolean;
  kubeconfig?: string;
  xdsListen: string;
  adminListen: string;
  adminAllowRemote?: boolean;
  metrics: boolean;
  istioNamespace: string;
  leaderElect: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  debounce: string;
  manifestsRescanInterval: string;
  maxManifestBytes: string;
  logLevel: string;
}

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw flagError(flag, file, (err as Error).message);
  }
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
    cert: readPem('--tls-cert', flags.tlsCert),
    key: readPem('--tls-key', flags.tlsKey),
    ...(flags.tlsCa ? { ca: readPem('--tls-ca', flags.tlsCa) } : {}),
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
  if (flags.kube) throw flagError('--kube', 'true', 'the Kubernetes source is not wired in yet');

  const setup = resolveWorkloadFlags({ ...flags, manifests: flags.manifests! });
  const meshConfig = setup.meshConfigFile
    ? await (await import('../sources/index.js')).loadMeshConfigFile(setup.meshConfigFile)
    : undefined;
  const plane = new ControlPlane({
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
    ranges: setup.ranges,
    graceMs: setup.graceMs,
    ...(meshConfig ? { meshConfig } : {}),
    xds: { listen: flags.xdsListen, ...(tls ? { tls } : {}) },
    logger,
  });
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
  logger.info({ admin: `${admin.host}:${adminServer.port}`, stateFile: setup.stateFile }, 'controller ready');
}

async function metricsRegistry() {
  const { processMetrics, Registry } = await import('../metrics.js');
  return processMetrics(new Registry());
}
