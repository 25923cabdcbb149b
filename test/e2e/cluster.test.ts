// The README's "In a cluster" as far as a machine without a cluster can go: the real kubectl applies
// deploy/ and deploy/example/ to the Kubernetes API test server; the controller and the agent run with
// the arguments those manifests give them (addresses moved to loopback, a kubeconfig instead of the
// service account); `kubectl get serviceentry -o yaml` shows the VIP in status.addresses and `dig`
// through the agent answers it. Then edits with kubectl reach dig.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { DIG_MISSING, dig, haveDig } from '../helpers/dig.js';
import { freePort } from '../helpers/dnsmasq.js';
import {
  haveKubectl,
  KUBECTL_MISSING,
  type KubeApiServer,
  type Kubectl,
  type KubeObject,
  kubectlFor,
  type ResourceType,
  startKubeApi,
} from '../helpers/kube/index.js';
import { tempFolder } from '../helpers/manifests.js';
import { eventually, type Running, startCli, waitForOutput } from '../helpers/meshdns.js';

const why = !(await haveKubectl()) ? KUBECTL_MISSING : !(await haveDig()) ? DIG_MISSING : undefined;

/** What deploy/ applies besides the types the controller reads: stored, never acted on. */
const DEPLOY_TYPES: ResourceType[] = [
  {
    group: 'apps',
    versions: ['v1'],
    plural: 'deployments',
    singular: 'deployment',
    kind: 'Deployment',
    namespaced: true,
    status: true,
  },
  {
    group: '',
    versions: ['v1'],
    plural: 'serviceaccounts',
    singular: 'serviceaccount',
    kind: 'ServiceAccount',
    namespaced: true,
  },
  ...(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'] as const).map((kind) => ({
    group: 'rbac.authorization.k8s.io',
    versions: ['v1'],
    plural: `${kind.toLowerCase()}s`,
    singular: kind.toLowerCase(),
    kind,
    namespaced: kind.startsWith('Role'),
  })),
];

interface Container {
  name: string;
  args: string[];
  env?: { name: string; value?: string }[];
}

function containers(api: KubeApiServer, ns: string, name: string): Container[] {
  const d = api.get('apps/v1', 'Deployment', ns, name) as KubeObject & {
    spec: { template: { spec: { containers: Container[]; initContainers?: Container[] } } };
  };
  assert.ok(d, `Deployment ${ns}/${name} applied`);
  return [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers];
}

/** `--flag value` replaced (or added) in an argument list. */
function withFlag(args: string[], flag: string, value: string): string[] {
  const i = args.indexOf(flag);
  return i < 0 ? [...args, flag, value] : [...args.slice(0, i + 1), value, ...args.slice(i + 2)];
}

describe('In a cluster (README), against the Kubernetes API test server', { skip: why }, () => {
  const tmp = tempFolder('meshdns-cluster-');
  const running: Running[] = [];
  let api: KubeApiServer;
  let kubectl: Kubectl;

  before(async () => {
    api = await startKubeApi({ anonymous: true, resources: DEPLOY_TYPES });
    kubectl = await kubectlFor(api);
  });
  after(async () => {
    await Promise.all(running.map((r) => r.stop()));
    await kubectl?.close();
    await api?.close();
  });

  const ok = async (args: string[]) => {
    const r = await kubectl.run(args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  it('applies deploy/ and deploy/example/, then resolves the example ServiceEntry to its VIP', async () => {
    await ok(['apply', '-k', 'deploy/']);
    await ok(['apply', '-k', 'deploy/example/']);

    const [controller] = containers(api, 'meshdns-system', 'meshdns-controller');
    const xds = await freePort('127.0.0.1');
    let args = withFlag(controller!.args, '--xds-listen', `127.0.0.1:${xds}`);
    args = withFlag(args, '--admin-listen', '127.0.0.1:0');
    const c = startCli([...args, '--kubeconfig', await api.writeKubeconfig(tmp())], {
      env: { POD_NAME: 'meshdns-controller-0', POD_NAMESPACE: 'meshdns-system' },
    });
    running.push(c);
    await waitForOutput(c, /"msg":"controller ready"/);

    const sidecar = containers(api, 'meshdns-example', 'example-app').find((x) => x.args[0] === 'agent')!;
    const capture = containers(api, 'meshdns-example', 'example-app').find((x) => x.args[0] === 'capture')!;
    assert.ok(capture.args.includes('--apply'), 'the init container installs the capture');
    const port = await freePort('127.0.0.1');
    let agentArgs = withFlag(sidecar.args, '--controller', `127.0.0.1:${xds}`);
    // The VIP proxy needs the VIP route the capture init container installs; DNS is what is tried here.
    agentArgs = agentArgs.filter((a) => a !== '--vip-proxy');
    agentArgs = withFlag(agentArgs, '--admin-listen', '127.0.0.1:0');
    agentArgs = withFlag(agentArgs, '--dns-listen', `127.0.0.1:${port}`);
    const env = Object.fromEntries(
      (sidecar.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]),
    );
    const a = startCli([...agentArgs, '--upstream', '127.0.0.1:9'], {
      env: { ...env, POD_NAME: 'example-app-0', POD_NAMESPACE: 'meshdns-example', INSTANCE_IP: '10.244.0.9' },
    });
    running.push(a);
    await waitForOutput(a, /"msg":"serving DNS"/);

    // kubectl -n meshdns-example get serviceentry example-com -o yaml: status.addresses.
    let vip = '';
    await eventually(async () => {
      const se = parse(
        await ok(['-n', 'meshdns-example', 'get', 'serviceentry', 'example-com', '-o', 'yaml']),
      ) as {
        status?: { addresses?: { value: string; host: string }[] };
      };
      const v4 = se.status?.addresses?.find((x) => x.value.startsWith('240.240.'));
      assert.ok(v4, 'status.addresses has an IPv4 VIP');
      assert.equal(v4.host, 'www.example.com');
      vip = v4.value;
    }, 15_000);
    // dig +short www.example.com, through the agent.
    await eventually(
      async () =>
        assert.deepEqual(
          (await dig('127.0.0.1', port, 'www.example.com')).answers.map((x) => x.data),
          [vip],
        ),
      10_000,
    );

    // An edit with kubectl reaches dig.
    await ok([
      '-n',
      'meshdns-example',
      'patch',
      'serviceentry',
      'example-com',
      '--type=merge',
      '-p',
      '{"spec":{"addresses":["192.0.2.44"],"resolution":"STATIC"}}',
    ]);
    await eventually(
      async () =>
        assert.deepEqual(
          (await dig('127.0.0.1', port, 'www.example.com')).answers.map((x) => x.data),
          ['192.0.2.44'],
        ),
      10_000,
    );
  });
});
