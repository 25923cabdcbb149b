// End to end: the real `kubectl` against the Kubernetes API test server — discovery of the ServiceEntry
// CRD, `apply -f` (create, then configure), `get -o yaml` with status, and patches of status and spec.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import {
  haveKubectl,
  KUBECTL_MISSING,
  type KubeApiServer,
  type Kubectl,
  type KubeObject,
  kubectlFor,
  startKubeApi,
} from '../helpers/kube/index.js';

const why = (await haveKubectl()) ? undefined : KUBECTL_MISSING;
const SE_V1 = 'networking.istio.io/v1';

function manifest(host: string): string {
  return [
    `apiVersion: ${SE_V1}`,
    'kind: ServiceEntry',
    'metadata:',
    '  name: db',
    '  namespace: default',
    'spec:',
    `  hosts: [${host}]`,
    '  ports:',
    '  - {number: 5432, name: tcp, protocol: TCP}',
    '  resolution: DNS',
    '',
  ].join('\n');
}

describe('kubectl against the kube API test server', { skip: why }, () => {
  let api: KubeApiServer;
  let kubectl: Kubectl;

  before(async () => {
    // client-go sends no bearer token over plain http, so kubectl's requests come without one.
    api = await startKubeApi({ anonymous: true });
    kubectl = await kubectlFor(api);
  });
  after(async () => {
    await kubectl?.close();
    await api?.close();
  });

  const stored = () => api.get(SE_V1, 'ServiceEntry', 'default', 'db');
  const ok = async (args: string[], stdin?: string) => {
    const r = await kubectl.run(args, stdin);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };

  it('discovers serviceentries (short name se) in networking.istio.io', async () => {
    const out = await ok(['api-resources', '--api-group=networking.istio.io']);
    assert.match(out, /^serviceentries\s+se\s+networking\.istio\.io\/v1\s+true\s+ServiceEntry$/m);
  });

  it('applies a ServiceEntry manifest: created, then configured', async () => {
    assert.match(
      await ok(['apply', '-f', '-'], manifest('db.example.com')),
      /serviceentry.networking.istio.io\/db created/,
    );
    assert.deepEqual((stored()!.spec as { hosts: string[] }).hosts, ['db.example.com']);
    assert.ok(stored()!.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']);
    const out = await ok(['apply', '-f', '-'], manifest('db2.example.com'));
    assert.match(out, /serviceentry.networking.istio.io\/db configured/);
    assert.deepEqual((stored()!.spec as { hosts: string[] }).hosts, ['db2.example.com']);
    assert.equal(stored()!.metadata.generation, 2);
  });

  it('shows the status with get serviceentry -o yaml', async () => {
    api.put({ ...stored()!, status: { addresses: [{ value: '240.240.0.1' }] } });
    const got = parse(await ok(['get', 'serviceentry', 'db', '-o', 'yaml'])) as KubeObject;
    assert.equal(got.apiVersion, SE_V1);
    assert.equal(got.metadata.resourceVersion, api.resourceVersion);
    assert.deepEqual(got.status, { addresses: [{ value: '240.240.0.1' }] });
    const list = parse(await ok(['get', 'se', '-A', '-o', 'yaml'])) as { items: KubeObject[] };
    assert.deepEqual(
      list.items.map((o) => o.metadata.name),
      ['db'],
    );
  });

  it('patches status through the subresource (or the spec where kubectl has no --subresource)', async (t) => {
    if (!(await kubectl.patchesSubresources())) {
      t.diagnostic('this kubectl has no patch --subresource (before 1.24): patching the object instead');
      await ok(['patch', 'serviceentry', 'db', '--type=merge', '-p', '{"spec":{"resolution":"STATIC"}}']);
      assert.equal((stored()!.spec as { resolution: string }).resolution, 'STATIC');
      return;
    }
    const swap = (from: string, to: string) =>
      JSON.stringify([
        { op: 'test', path: '/status/addresses', value: [{ value: from }] },
        { op: 'replace', path: '/status/addresses', value: [{ value: to }] },
      ]);
    await ok([
      'patch',
      'se',
      'db',
      '--subresource=status',
      '--type=json',
      '-p',
      swap('240.240.0.1', '240.240.0.2'),
    ]);
    assert.deepEqual(stored()!.status, { addresses: [{ value: '240.240.0.2' }] });
    const stale = await kubectl.run([
      'patch',
      'se',
      'db',
      '--subresource=status',
      '--type=json',
      '-p',
      swap('240.240.0.1', '240.240.0.3'),
    ]);
    assert.notEqual(stale.code, 0);
    assert.match(stale.stderr, /testing value \/status\/addresses failed/);
    assert.deepEqual(stored()!.status, { addresses: [{ value: '240.240.0.2' }] });
    // Custom resources take no strategic merge patch, which is kubectl's default type: refused as the real server does.
    const strategic = await kubectl.run(['patch', 'se', 'db', '-p', '{"spec":{"resolution":"STATIC"}}']);
    assert.notEqual(strategic.code, 0);
    assert.match(strategic.stderr, /not supported/);
  });
});
