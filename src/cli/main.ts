// The CLI is a thin shell: parse flags, call the modules, format output (STYLE.md §14).
// Every command's options are defined here, so --help lists them all; a command's code is imported
// only when it runs, so that `serve` does not load what `table` needs and the other way round.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { MeshdnsError } from '../errors.js';
import type { AgentCommandFlags } from './agent.js';
import type { CaptureFlags } from './capture.js';
import type { ConfigFlags } from './config.js';
import type { ControllerFlags } from './controller.js';
import type { ExplainFlags } from './explain.js';
import { outputOption } from './flags.js';
import type { LookupFlags } from './lookup.js';
import { exitOnStdoutError } from './output.js';
import type { ServeFlags } from './serve.js';
import { addServeExtraOptions } from './serve-options.js';
import type { TableFlags } from './table.js';
import type { VipsFlags } from './vips.js';
import { allocationOptions, perNameOptions, workloadOptions } from './workload-options.js';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function fail(err: unknown): never {
  const text =
    err instanceof MeshdnsError
      ? `${err.code}: ${err.message}`
      : err instanceof Error
        ? err.message
        : String(err);
  process.stderr.write(`meshdns: ${text}\n`);
  process.exit(1);
}

/** The `version` of the installation's package.json, looked for above this module (or its bundle). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'meshdns' && pkg.version) return pkg.version;
    } catch {
      // Not here: one folder up.
    }
  }
  return 'unknown (no package.json of meshdns above the CLI)';
}

/** Where the data plane forwards, and the names it derives: `serve` and `agent` alike. */
function resolverOptions(cmd: Command): Command {
  return cmd
    .option('--cluster-domain <domain>', 'Kubernetes cluster domain', DEFAULTS.clusterDomain)
    .option('--resolv-conf <file>', 'upstream servers and search domains', DEFAULTS.resolvConf)
    .option('--search <domain>', "search domain (repeatable; default: resolv.conf's)", collect)
    .option(
      '--upstream <addr:port>',
      "upstream server (repeatable; default: resolv.conf's nameservers)",
      collect,
    )
    .option(
      '--upstream-timeout <ms>',
      'total time budget for a forwarded query',
      String(DEFAULTS.upstreamTimeoutMs),
    );
}

const program = new Command('meshdns')
  .description('DNS proxy for service meshes: answers mesh names locally, forwards the rest')
  // The package's version, read only when asked for (every other start skips the file).
  .option('-V, --version', 'print the version and exit')
  .on('option:version', () => {
    process.stdout.write(`${packageVersion()}\n`);
    process.exit(0);
  })
  .showHelpAfterError()
  // The printing commands end cleanly when stdout fails; serve's stdout is not its output (logs go
  // to stderr), so it keeps serving.
  .hook('preAction', (_program, command) => {
    if (!['serve', 'agent', 'controller'].includes(command.name())) exitOnStdoutError();
  });

const serveCommand = program
  .command('serve')
  .description('serve DNS for one workload from a folder of manifests (controller and agent in one process)')
  .requiredOption('--manifests <dir>', 'folder of Kubernetes/Istio YAML or JSON manifests (watched)')
  .option(
    '--workload <ns/name>',
    'the Pod, Deployment or StatefulSet served: its namespace and DNS settings (default: capture on)',
  )
  .option('--dns-listen <addr:port>', 'UDP and TCP address to answer on', DEFAULTS.dnsListen)
  .option(
    '--manifests-rescan-interval <ms>',
    're-check every file this often, file events or not (a change is seen within this + 100 ms); a folder whose rescan takes more than a ninth of this waits 9 rescan-times instead, logged',
    String(DEFAULTS.manifestsRescanIntervalMs),
  )
  .option(
    '--max-manifest-bytes <bytes>',
    'a bigger manifest file is reported and its last good objects kept',
    String(DEFAULTS.maxManifestBytes),
  )
  .option(
    '--state-lock-wait <ms>',
    'wait this long for a running serve holding the state file to stop (a restart); 0: exit at once',
    String(DEFAULTS.stateLockWaitMs),
  );
resolverOptions(workloadOptions(serveCommand));
perNameOptions(allocationOptions(serveCommand)).addOption(
  new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'),
);
addServeExtraOptions(serveCommand).action((flags: ServeFlags, cmd: Command) =>
  import('./serve.js').then(({ serve }) => serve(flags, cmd)).catch(fail),
);

const agentCommand = program
  .command('agent')
  .description(
    "serve DNS for this pod from a controller's tables (xDS); identity from POD_NAME, POD_NAMESPACE, ISTIO_META_*",
  )
  .requiredOption('--controller <host:port>', 'the controller (meshdns controller --xds-listen)')
  .option('--dns-listen <addr:port>', 'UDP and TCP address to answer on', DEFAULTS.dnsListen);
resolverOptions(agentCommand)
  .option('--tls-ca <file>', "CA of the controller's certificate: connect with TLS")
  .option('--tls-cert <file>', 'client certificate, for a controller that verifies them')
  .option('--tls-key <file>', "the client certificate's key")
  .option('--tls-server-name <name>', "name to check the controller's certificate against")
  .addOption(
    new Option('--log-level <level>', 'log level')
      .choices(['debug', 'info', 'warn', 'error'])
      .default('info'),
  );
addServeExtraOptions(agentCommand).action((flags: AgentCommandFlags, cmd: Command) =>
  import('./agent.js').then(({ runAgent }) => runAgent(flags, cmd)).catch(fail),
);

const controllerCommand = program
  .command('controller')
  .description(
    'the control plane: resources (a manifests folder or the Kubernetes API) → VIPs → tables → agents',
  )
  .option('--manifests <dir>', 'folder of Kubernetes/Istio YAML or JSON manifests (watched)')
  .option('--kube', 'read the Kubernetes API (--kubeconfig, else KUBECONFIG, else in-cluster)')
  .option('--kubeconfig <file>', 'kubeconfig for --kube')
  .option('--xds-listen <addr:port>', 'gRPC address agents connect to', DEFAULTS.xdsListen)
  .option(
    '--xds-advertise <host:port>',
    "with --kube: this replica's xDS address for other replicas, written in the Lease while it leads (followers forward per-name VIP requests there); default POD_IP and the --xds-listen port",
  )
  .option(
    '--admin-listen <addr:port>',
    'admin HTTP API: /healthz/ready, /healthz/live, /metrics',
    DEFAULTS.controllerAdminListen,
  )
  .option('--admin-allow-remote', 'allow a non-loopback --admin-listen address')
  .option('--no-metrics', 'count nothing')
  .option(
    '--istio-namespace <ns>',
    'where the mesh config (ConfigMap istio, key mesh) lives',
    DEFAULTS.istioNamespace,
  )
  .option('--no-leader-elect', 'write status.addresses without a Lease (one replica only)')
  .option(
    '--leader-elect-lease-duration <ms>',
    'how long a Lease holds without renewal',
    String(DEFAULTS.kube.leaseDurationMs),
  )
  .option(
    '--leader-elect-renew-deadline <ms>',
    'the leader steps down when it cannot renew for this long',
    String(DEFAULTS.kube.renewDeadlineMs),
  )
  .option(
    '--leader-elect-retry-period <ms>',
    'how often the Lease is tried and renewed',
    String(DEFAULTS.kube.retryPeriodMs),
  )
  .option('--tls-cert <file>', 'serve agents over TLS with this certificate')
  .option('--tls-key <file>', "the certificate's key")
  .option('--tls-ca <file>', 'require client certificates signed by this CA')
  .option('--cluster-domain <domain>', 'Kubernetes cluster domain', DEFAULTS.clusterDomain)
  .option(
    '--debounce <ms>',
    'a change after a quiet period is built at once; more within this long wait and build together',
    String(DEFAULTS.controllerDebounceMs),
  )
  .option(
    '--manifests-rescan-interval <ms>',
    're-check every file this often, file events or not (a folder whose rescan takes more than a ninth of this waits 9 rescan-times instead, logged)',
    String(DEFAULTS.manifestsRescanIntervalMs),
  )
  .option(
    '--max-manifest-bytes <bytes>',
    'a bigger manifest file is reported and its last good objects kept',
    String(DEFAULTS.maxManifestBytes),
  )
  .option('--mesh-config <file>', "MeshConfig to use instead of the resources' own");
perNameOptions(allocationOptions(controllerCommand))
  .addOption(
    new Option('--log-level <level>', 'log level')
      .choices(['debug', 'info', 'warn', 'error'])
      .default('info'),
  )
  .action((flags: ControllerFlags, cmd: Command) =>
    import('./controller.js').then(({ runController }) => runController(flags, cmd)).catch(fail),
  );

const tableCommand = program
  .command('table')
  .description('print the name table a workload would get')
  .requiredOption('--manifests <dir>', 'folder of manifests')
  .option('--workload <ns/name>', 'the workload: its namespace and DNS settings (default: capture on)');
workloadOptions(tableCommand)
  .option('--cluster-domain <domain>', 'Kubernetes cluster domain', DEFAULTS.clusterDomain)
  .option('--resolv-conf <file>', 'search domains come from here', DEFAULTS.resolvConf)
  .option('--search <domain>', "search domain (repeatable; default: resolv.conf's)", collect);
allocationOptions(tableCommand)
  .addOption(outputOption())
  .action((flags: TableFlags) =>
    import('./table.js').then(({ printTable }) => printTable(flags)).catch(fail),
  );

const vipsCommand = program
  .command('vips')
  .description('print every ServiceEntry host with its auto-allocated VIPs and their state')
  .requiredOption('--manifests <dir>', 'folder of manifests');
allocationOptions(vipsCommand)
  .addOption(outputOption())
  .action((flags: VipsFlags) => import('./vips.js').then(({ printVips }) => printVips(flags)).catch(fail));

const configCommand = program
  .command('config')
  .description("print a workload's effective DNS_CAPTURE and DNS_AUTO_ALLOCATE and where each came from")
  .requiredOption('--manifests <dir>', 'folder of manifests')
  .requiredOption('--workload <ns/name>', 'the Pod, Deployment or StatefulSet');
workloadOptions(configCommand)
  .addOption(outputOption())
  .action((flags: ConfigFlags) =>
    import('./config.js').then(({ printConfig }) => printConfig(flags)).catch(fail),
  );

program
  .command('capture')
  .description(
    'print (default), apply or remove the iptables rules that send DNS to the agent, and the VIP route',
  )
  .option('--apply', 'install the rules and routes (needs root); idempotent')
  .option('--remove', 'remove exactly what --apply installed')
  .option('--agent-port <port>', "the agent's DNS port", String(DEFAULTS.captureAgentPort))
  .requiredOption('--agent-uid <uid>', "the agent's user id: its own DNS traffic is not captured")
  .option('--agent-gid <gid>', "the agent's group id, excluded as well")
  .option('--dns-servers <ip...>', 'capture only DNS to these servers (default: all DNS)')
  .option('--vip-range-v4 <cidr>', 'IPv4 VIP range routed locally', DEFAULTS.vipRangeV4)
  .option('--vip-range-v6 <cidr>', 'IPv6 VIP range routed locally', DEFAULTS.vipRangeV6)
  .action((flags: CaptureFlags) => import('./capture.js').then(({ capture }) => capture(flags)).catch(fail));

program
  .command('lookup')
  .description('ask the agent for NAME and print the answer like dig +short')
  .argument('<name>', 'the name to look up')
  .option('--type <type>', 'query type', 'A')
  .option('--server <addr:port>', "the agent's DNS address", DEFAULTS.dnsListen)
  .option('--tcp', 'ask over TCP')
  .option('--timeout <ms>', 'how long to wait for the answer', String(DEFAULTS.lookupTimeoutMs))
  .addOption(outputOption())
  .action((name: string, flags: LookupFlags) =>
    import('./lookup.js').then(({ lookup }) => lookup(name, flags)).catch(fail),
  );

program
  .command('explain')
  .description('how a running agent answers NAME, and why (table, wildcard, cache or upstream)')
  .argument('<name>', 'the name to explain')
  .option('--type <type>', 'query type', 'A')
  .option('--admin <addr:port>', "the agent's admin API", DEFAULTS.adminListen)
  .addOption(outputOption())
  .action((name: string, flags: ExplainFlags) =>
    import('./explain.js').then(({ explainName }) => explainName(name, flags)).catch(fail),
  );

program.parseAsync(process.argv).catch(fail);
