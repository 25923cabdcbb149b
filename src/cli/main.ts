// The CLI is a thin shell: parse flags, call the modules, format output (STYLE.md §14).
import { Command, Option } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { MeshdnsError } from '../errors.js';
import { registerExplain } from './explain.js';
import { registerLookup } from './lookup.js';
import { serve } from './serve.js';
import { addServeExtraOptions } from './serve-options.js';
import { printTable } from './table.js';

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

const program = new Command('meshdns')
  .description('DNS proxy for service meshes: answers mesh names locally, forwards the rest')
  .showHelpAfterError();

const serveCommand = program
  .command('serve')
  .description('serve DNS for one workload from a folder of manifests (controller and agent in one process)')
  .requiredOption('--manifests <dir>', 'folder of Kubernetes/Istio YAML or JSON manifests (watched)')
  .option('--dns-listen <addr:port>', 'UDP and TCP address to answer on', DEFAULTS.dnsListen)
  .option('--namespace <ns>', "the workload's namespace", DEFAULTS.namespace)
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
  )
  .addOption(
    new Option('--log-level <level>', 'log level')
      .choices(['debug', 'info', 'warn', 'error'])
      .default('info'),
  );
addServeExtraOptions(serveCommand).action((flags, cmd) => serve(flags, cmd).catch(fail));

program
  .command('table')
  .description('print the name table a workload would get')
  .requiredOption('--manifests <dir>', 'folder of manifests')
  .option('--namespace <ns>', "the workload's namespace", DEFAULTS.namespace)
  .option('--cluster-domain <domain>', 'Kubernetes cluster domain', DEFAULTS.clusterDomain)
  .option('--resolv-conf <file>', 'search domains come from here', DEFAULTS.resolvConf)
  .option('--search <domain>', "search domain (repeatable; default: resolv.conf's)", collect)
  .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
  .action((flags) => printTable(flags).catch(fail));

registerLookup(program, fail);
registerExplain(program, fail);

program.parseAsync(process.argv).catch(fail);
