// deploy/ (issue 10 item 5): every object is what the API server accepts, the RBAC grants exactly what
// the controller needs, every container is locked down, and the pieces point at each other (the
// agent at the Service, the Service at the controller, the capture at the agent's uid and port).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULTS } from '../../src/defaults.js';
import { parseManifestText } from '../../src/model/index.js';
import {
  type DeployObject,
  flagValue,
  isMeshdns,
  label,
  loadDeploy,
  type Obj,
  podContainers,
  portOf,
} from '../helpers/deploy.js';
import { kubeSchemaErrors } from '../helpers/kube-schema.js';
import { ROOT } from '../helpers/meshdns.js';

const all = loadDeploy();
const kustomizations = all.filter((o) => o.obj.kind === 'Kustomization');
const resources = all.filter((o) => o.obj.kind !== 'Kustomization');
const containers = podContainers(resources);

function one(kind: string, name: string): Obj {
  const found = resources.filter((o) => o.obj.kind === kind && o.obj.metadata.name === name);
  assert.equal(found.length, 1, `exactly one ${kind} ${name} in deploy/`);
  return found[0]!.obj;
}

function byCommand(command: string): Obj {
  const found = containers.filter((c) => isMeshdns(c) && c.container.args?.[0] === command);
  assert.equal(found.length, 1, `exactly one container runs meshdns ${command}`);
  return found[0]!.container;
}

const controllerDeployment = one('Deployment', 'meshdns-controller');
const controller = byCommand('controller');
const agent = byCommand('agent');
const capture = byCommand('capture');

/** `env` as name → value or downward-API field path. */
function envOf(container: Obj): Record<string, string> {
  return Object.fromEntries(
    (container.env ?? []).map((e: Obj) => [
      e.name,
      e.value ?? `fieldRef:${e.valueFrom?.fieldRef?.fieldPath}`,
    ]),
  );
}

describe('deploy/: Kubernetes schemas', () => {
  it('every object passes its schema, with no field the API does not know', () => {
    const errors = resources.flatMap((o) => {
      if (o.obj.kind !== 'ServiceEntry') return kubeSchemaErrors(o.obj).map((e) => `${label(o)}: ${e}`);
      // A CRD: checked by the manifest model `serve` and the controller use.
      const parsed = parseManifestText(o.file, readFileSync(join(ROOT, o.file), 'utf8'));
      assert.equal(parsed.resources.length, 1, `${label(o)} is read as one resource`);
      return parsed.errors.map((e) => `${label(o)}: ${e.message}`);
    });
    assert.deepEqual(errors, []);
    assert.ok(resources.length >= 12, `found only ${resources.length} objects in deploy/`);
  });

  it('the schema check rejects what the API server would (it is not passing for nothing)', () => {
    const broken = structuredClone(controllerDeployment);
    const c = broken.spec.template.spec.containers[0];
    broken.spec.replicas = 'two';
    c.readinesProbe = c.readinessProbe;
    c.resources.limits.memory = 'plenty';
    const errors = kubeSchemaErrors(broken).join('\n');
    assert.match(errors, /\/spec\/replicas must be integer/);
    assert.match(errors, /containers\[0\]\.readinesProbe: unknown field/);
    assert.match(errors, /limits\/memory must match format "quantity"/);
  });

  it('each kustomization lists exactly the YAML files of its folder', () => {
    assert.deepEqual(kustomizations.map((k) => k.folder).sort(), ['deploy', 'deploy/example']);
    for (const k of kustomizations) {
      const files = readdirSync(join(ROOT, k.folder)).filter(
        (f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml',
      );
      assert.deepEqual([...k.obj.resources].sort(), files.sort(), k.file);
    }
  });
});

// The controller's needs (issue 10 items 1-2): informers, the status patch, Events, the Lease, the
// mesh ConfigMap. Anything more is a grant nobody asked for; anything less fails in a cluster.
const EXPECTED_RULES: Record<string, string[]> = {
  'ClusterRole meshdns-controller': [
    'core events create',
    'core events patch',
    'core namespaces list',
    'core namespaces watch',
    'core services list',
    'core services watch',
    'discovery.k8s.io endpointslices list',
    'discovery.k8s.io endpointslices watch',
    'events.k8s.io events create',
    'events.k8s.io events patch',
    'networking.istio.io serviceentries get',
    'networking.istio.io serviceentries list',
    'networking.istio.io serviceentries watch',
    'networking.istio.io serviceentries/status get',
    'networking.istio.io serviceentries/status patch',
    'operator.kyma-project.io istios list',
    'operator.kyma-project.io istios watch',
  ],
  'Role meshdns-system/meshdns-controller-leader-election': [
    'coordination.k8s.io leases create',
    'coordination.k8s.io leases get',
    'coordination.k8s.io leases update',
  ],
  'Role meshdns-system/meshdns-controller-vip-holdback': [
    'core configmaps create',
    'core configmaps get',
    'core configmaps patch',
  ],
  'Role istio-system/meshdns-controller-mesh-config': [
    'core configmaps get',
    'core configmaps list',
    'core configmaps watch',
  ],
};

const roleKey = (o: Obj) =>
  `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

describe('deploy/: RBAC', () => {
  const roles = resources.filter((o) => o.obj.kind === 'ClusterRole' || o.obj.kind === 'Role');
  const bindings = resources.filter((o) => o.obj.kind.endsWith('Binding'));
  const account = one('ServiceAccount', 'meshdns-controller');

  it('grants exactly what the controller needs, as plain rules', () => {
    const actual: Record<string, string[]> = {};
    for (const { obj } of roles) {
      for (const r of obj.rules) {
        assert.deepEqual(Object.keys(r).sort(), ['apiGroups', 'resources', 'verbs'], roleKey(obj));
      }
      actual[roleKey(obj)] = obj.rules
        .flatMap((r: Obj) =>
          r.apiGroups.flatMap((g: string) =>
            r.resources.flatMap((res: string) => r.verbs.map((v: string) => `${g || 'core'} ${res} ${v}`)),
          ),
        )
        .sort();
    }
    assert.deepEqual(actual, EXPECTED_RULES);
  });

  it("binds each role once, to the controller's service account, in the role's namespace", () => {
    const bound = bindings.map(({ obj }) => {
      assert.deepEqual(
        obj.subjects,
        [{ kind: 'ServiceAccount', name: account.metadata.name, namespace: account.metadata.namespace }],
        roleKey(obj),
      );
      const ns = obj.kind === 'RoleBinding' ? `${obj.metadata.namespace}/` : '';
      return `${obj.roleRef.kind} ${ns}${obj.roleRef.name}`;
    });
    assert.deepEqual(bound.sort(), Object.keys(EXPECTED_RULES).sort());
    const spec = controllerDeployment.spec.template.spec;
    assert.equal(spec.serviceAccountName, account.metadata.name);
    assert.equal(controllerDeployment.metadata.namespace, account.metadata.namespace);
  });

  it('puts the Lease grant where POD_NAMESPACE points and the ConfigMap grant in the Istio namespace', () => {
    assert.equal(envOf(controller).POD_NAMESPACE, 'fieldRef:metadata.namespace');
    const lease = roles.find((o) => o.obj.rules.some((r: Obj) => r.resources.includes('leases')))!;
    assert.equal(lease.obj.metadata.namespace, controllerDeployment.metadata.namespace);
    const config = roles.find((o) => o.obj.metadata.name === 'meshdns-controller-mesh-config')!;
    // The hold-back ConfigMap (issue 14 item 4) is the controller's own, beside its Lease.
    const holdback = roles.find((o) => o.obj.metadata.name === 'meshdns-controller-vip-holdback')!;
    assert.equal(holdback.obj.metadata.namespace, controllerDeployment.metadata.namespace);
    assert.equal(
      config.obj.metadata.namespace,
      flagValue(controller.args, '--istio-namespace') ?? 'istio-system',
    );
  });
});

describe('deploy/: containers', () => {
  it('every container has requests and a memory limit, no privilege escalation, a read-only root', () => {
    const problems: string[] = [];
    for (const c of containers) {
      const where = `${label(c.owner)} container ${c.container.name}`;
      const { requests = {}, limits = {} } = c.container.resources ?? {};
      if (!requests.cpu || !requests.memory || !limits.memory) problems.push(`${where}: resources`);
      const sc = c.container.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation`);
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem`);
      if (!sc.capabilities?.drop?.includes('ALL')) problems.push(`${where}: capabilities.drop ALL`);
      if (c.pod.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${where}: seccompProfile`);
    }
    assert.deepEqual(problems, []);
  });

  it('only the capture init container is root, and it adds only NET_ADMIN and NET_RAW', () => {
    for (const c of containers) {
      const sc = c.container.securityContext ?? {};
      const where = `${label(c.owner)} container ${c.container.name}`;
      if (c.container === capture) {
        assert.ok(c.init, `${where} runs before the application`);
        assert.equal(sc.runAsUser, 0, where);
        assert.deepEqual(sc.capabilities.add, ['NET_ADMIN', 'NET_RAW'], where);
        continue;
      }
      assert.equal(sc.runAsNonRoot ?? c.pod.runAsNonRoot, true, `${where}: runAsNonRoot`);
      assert.notEqual(sc.runAsUser ?? c.pod.runAsUser, 0, where);
      assert.equal(sc.capabilities?.add, undefined, `${where} adds no capability`);
    }
  });

  it('every long-running meshdns container has a readiness probe, the controller a liveness probe too', () => {
    const meshdns = containers.filter((c) => isMeshdns(c) && c.longRunning);
    assert.equal(meshdns.length, 2);
    for (const c of meshdns) assert.ok(c.container.readinessProbe, `${c.container.name} readinessProbe`);
    assert.equal(controller.livenessProbe.httpGet.path, '/healthz/live');
    assert.equal(controller.readinessProbe.httpGet.path, '/healthz/ready');
  });
});

describe('deploy/: how the pieces meet', () => {
  const example = resources.find((o) => o.obj.metadata.name === 'example-app') as DeployObject;
  const pod = example.obj.spec.template.spec;

  it('the agent runs as uid/gid 1337, and the capture, before it, lets exactly that uid and gid out', () => {
    assert.equal(agent.securityContext.runAsUser, 1337);
    assert.equal(flagValue(capture.args, '--agent-uid'), String(agent.securityContext.runAsUser));
    assert.equal(flagValue(capture.args, '--agent-gid'), String(agent.securityContext.runAsGroup));
    assert.equal(agent.restartPolicy, 'Always', 'a native sidecar: the application starts after it');
    assert.ok(pod.initContainers.indexOf(capture) < pod.initContainers.indexOf(agent));
    for (const app of pod.containers) {
      assert.notEqual(app.securityContext.runAsUser, 1337, `${app.name}'s DNS would bypass the agent`);
      assert.notEqual(app.securityContext.runAsGroup, 1337, `${app.name}'s DNS would bypass the agent`);
    }
  });

  it('the capture redirects DNS to the port the agent answers on', () => {
    const captured = flagValue(capture.args, '--agent-port') ?? String(DEFAULTS.captureAgentPort);
    const answered = portOf(flagValue(agent.args, '--dns-listen') ?? DEFAULTS.dnsListen);
    assert.equal(Number(captured), answered);
  });

  it('the agent dials the controller Service, proxies VIPs and knows itself from the downward API', () => {
    const svc = one('Service', 'meshdns-controller');
    const grpc = svc.spec.ports.find((p: Obj) => p.appProtocol === 'grpc');
    const address = `${svc.metadata.name}.${svc.metadata.namespace}.svc:${grpc.port}`;
    assert.equal(flagValue(agent.args, '--controller'), address);
    assert.ok(agent.args.includes('--vip-proxy'));
    assert.deepEqual(envOf(agent), {
      POD_NAME: 'fieldRef:metadata.name',
      POD_NAMESPACE: 'fieldRef:metadata.namespace',
      INSTANCE_IP: 'fieldRef:status.podIP',
      ISTIO_META_DNS_CAPTURE: 'true',
      ISTIO_META_DNS_AUTO_ALLOCATE: 'true',
    });
    assert.equal(pod.automountServiceAccountToken, false, 'the example pod calls no API');
  });

  it('the Service selects the controller pods and reaches their xDS port; the probes the admin port', () => {
    const svc = one('Service', 'meshdns-controller');
    const labels = controllerDeployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(labels[k], v, `selector ${k}`);
    const port = (name: string | number) =>
      typeof name === 'number' ? name : controller.ports.find((p: Obj) => p.name === name).containerPort;
    const grpc = svc.spec.ports.find((p: Obj) => p.appProtocol === 'grpc');
    assert.equal(port(grpc.targetPort), portOf(flagValue(controller.args, '--xds-listen')!));
    const admin = portOf(flagValue(controller.args, '--admin-listen')!);
    assert.equal(port(controller.readinessProbe.httpGet.port), admin);
    assert.equal(port(controller.livenessProbe.httpGet.port), admin);
    assert.ok(controller.args.includes('--admin-allow-remote'), 'the kubelet probes the pod IP');
    assert.ok(controller.args.includes('--kube'));
    assert.equal(controllerDeployment.spec.replicas, 2);
    assert.equal(envOf(controller).POD_NAME, 'fieldRef:metadata.name');
  });
});
