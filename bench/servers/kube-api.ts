// The Kubernetes API test server (test/helpers/kube) in a process of its own, for the controlplane
// scenario: neither the bench's nor the agents' event loop may slow the API the controller watches.
// It seeds the mesh, writes a kubeconfig and prints one JSON line {url, token, kubeconfig, objects};
// changes come in through the API itself. SIGTERM closes it.
//
// node dist/bench/servers/kube-api.js '{"entries":10000,"services":5000,"namespaces":10,"dir":"/tmp/x"}'
import { startKubeApi } from '../../test/helpers/kube/index.js';
import {
  type ControlPlaneSize,
  changeAddress,
  changeEntry,
  changeTargets,
  meshObjects,
} from '../fixtures/controlplane.js';

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as ControlPlaneSize & { dir: string };
  if (!opts.dir || !(opts.entries >= 0) || !(opts.services >= 0) || !(opts.namespaces > 0))
    throw new Error(`usage: kube-api.js '{"entries","services","namespaces","dir"}'; got ${process.argv[2]}`);
  // History enough that a watch started after the seeding never gets 410 for it.
  const api = await startKubeApi({ historyLimit: 100_000 });
  const objects = [
    ...meshObjects(opts),
    ...Object.values(changeTargets(opts)).map((t) => changeEntry(t, changeAddress('initial'))),
  ];
  for (const o of objects) api.put(o);
  const kubeconfig = await api.writeKubeconfig(opts.dir);
  process.stdout.write(
    `${JSON.stringify({ url: api.url, token: api.token, kubeconfig, objects: objects.length })}\n`,
  );
  const stop = () => void api.close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`kube-api: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
