// Leader election on a coordination.k8s.io/v1 Lease through the real @kubernetes/client-node against the
// Kubernetes API test server: one leader among candidates, hand-over on stop (release) and on a killed
// leader (expiry), the resourceVersion precondition, and API failures. Lease times are short (options);
// waits are bounded by eventually() and assert what happened, never how fast.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaderElector, type LeaderElectorOptions } from '../../src/controller/kube/index.js';
import { type KubeApiServer, startKubeApi } from '../helpers/kube/index.js';
import { captureLogs } from '../helpers/log-capture.js';
import { eventually } from '../helpers/meshdns.js';

const NS = 'istio-system';
const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${name}`;

/** Lease 10 s, retry 100 ms: a hand-over seen within the test's waits cannot have come from expiry. */
const SLOW_EXPIRY = { leaseDurationMs: 10_000, renewDeadlineMs: 5_000, retryPeriodMs: 100 };
/** Lease 2 s (the Lease counts whole seconds), for the cases that wait for expiry. */
const FAST_EXPIRY = { leaseDurationMs: 2_000, renewDeadlineMs: 1_000, retryPeriodMs: 100 };

interface Candidate {
  elector: LeaderElector;
  /** 'started' / 'stopped', in order. */
  calls: string[];
}

describe('LeaderElector on a coordination.k8s.io/v1 Lease', () => {
  let api: KubeApiServer;
  let kc: KubeConfig;
  const electors: LeaderElector[] = [];

  before(async () => {
    api = await startKubeApi();
    kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
  });
  after(async () => {
    for (const e of electors.splice(0)) await e.stop();
    await api.close();
  });

  function candidate(identity: string, name: string, options: Partial<LeaderElectorOptions> = {}): Candidate {
    const calls: string[] = [];
    const elector = new LeaderElector(kc, captureLogs().logger, {
      identity,
      name,
      namespace: NS,
      ...SLOW_EXPIRY,
      onStartedLeading: () => calls.push('started'),
      onStoppedLeading: () => calls.push('stopped'),
      ...options,
    });
    electors.push(elector);
    return { elector, calls };
  }

  function lease(name: string) {
    return api.get('coordination.k8s.io/v1', 'Lease', NS, name) as
      | { spec: { holderIdentity?: string; leaseTransitions?: number; leaseDurationSeconds?: number } }
      | undefined;
  }

  /** Samples the candidates a bounded number of times: never two leaders at once. */
  async function neverTwo(cs: Candidate[], samples = 10): Promise<void> {
    for (let i = 0; i < samples; i++) {
      assert.ok(cs.filter((c) => c.elector.isLeader).length <= 1, 'two leaders at once');
      await new Promise((r) => setTimeout(r, 30));
    }
  }

  it('elects exactly one of two candidates and writes the Lease as client-go does', async () => {
    const a = candidate('pod-a', 'one-of-two');
    const b = candidate('pod-b', 'one-of-two');
    await Promise.all([a.elector.start(), b.elector.start()]);
    await eventually(async () => assert.equal([a, b].filter((c) => c.elector.isLeader).length, 1));
    await neverTwo([a, b]);
    const leader = a.elector.isLeader ? a : b;
    const follower = leader === a ? b : a;
    const spec = lease('one-of-two')!.spec;
    assert.equal(spec.holderIdentity, leader === a ? 'pod-a' : 'pod-b');
    assert.equal(spec.leaseDurationSeconds, 10);
    assert.equal(spec.leaseTransitions, 0);
    assert.match(String((spec as { renewTime?: string }).renewTime), /\.\d{6}Z$/, 'MicroTime');
    assert.deepEqual(leader.calls, ['started']);
    assert.deepEqual(follower.calls, []);
    await eventually(async () => assert.equal(follower.elector.leader, spec.holderIdentity));
    // The leader renews: the Lease keeps changing while nobody else takes it.
    const before = api.count({ verb: 'update', path: leasePath('one-of-two') });
    await eventually(async () =>
      assert.ok(api.count({ verb: 'update', path: leasePath('one-of-two') }) >= before + 2),
    );
    assert.ok(leader.elector.isLeader);
  });

  it('hands over when the leader stops: it releases the Lease, a follower takes it without waiting for expiry', async () => {
    const a = candidate('pod-a', 'handover');
    await a.elector.start();
    await eventually(async () => assert.ok(a.elector.isLeader));
    const b = candidate('pod-b', 'handover');
    await b.elector.start();
    await neverTwo([a, b], 5);
    assert.ok(!b.elector.isLeader, 'a held, unexpired Lease is not taken');

    await a.elector.stop();
    assert.deepEqual(a.calls, ['started', 'stopped']);
    assert.ok(!a.elector.isLeader);
    // The 10 s lease cannot have expired within these waits: only the release explains the hand-over.
    await eventually(async () => assert.ok(b.elector.isLeader), 3000);
    assert.equal(lease('handover')!.spec.holderIdentity, 'pod-b');
    assert.equal(lease('handover')!.spec.leaseTransitions, 1);
  });

  it('takes over from a killed leader once its Lease expired, counting the transition', async () => {
    const child = spawnElector(api, 'killed-pod', 'killed');
    try {
      await eventually(async () => assert.equal(lease('killed')?.spec.holderIdentity, 'killed-pod'), 10_000);
      const b = candidate('pod-b', 'killed', FAST_EXPIRY);
      await b.elector.start();
      await neverTwo([b], 5);
      assert.ok(!b.elector.isLeader, 'the live leader keeps renewing');
      child.kill('SIGKILL');
      await once(child, 'exit');
      // Not stopped: nothing released the Lease; it is taken only after it was not renewed for 5 s.
      assert.equal(lease('killed')!.spec.holderIdentity, 'killed-pod');
      await eventually(async () => assert.ok(b.elector.isLeader), 20_000);
      assert.equal(lease('killed')!.spec.holderIdentity, 'pod-b');
      assert.equal(lease('killed')!.spec.leaseTransitions, 1);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
  });

  it('loses the race with 409 when the Lease changed between its read and its update', async () => {
    api.put({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'race', namespace: NS },
      spec: { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 3 },
    });
    // Another candidate takes the released Lease after our read, before our update.
    api.beforeNext({ path: leasePath('race'), verb: 'update' }, () => {
      api.put({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'race', namespace: NS },
        spec: { holderIdentity: 'pod-other', leaseDurationSeconds: 10, leaseTransitions: 4 },
      });
    });
    const b = candidate('pod-b', 'race');
    await b.elector.start();
    await eventually(async () => assert.equal(b.elector.leader, 'pod-other'));
    await neverTwo([b], 5);
    assert.ok(!b.elector.isLeader);
    assert.deepEqual(b.calls, []);
    assert.equal(lease('race')!.spec.holderIdentity, 'pod-other');
  });

  it('retries a 500, rides out a short failure as leader, and steps down when renewal fails past the deadline', async () => {
    api.failNext({ path: leasePath('flaky'), verb: 'get', count: 2, code: 500 });
    const a = candidate('pod-a', 'flaky', FAST_EXPIRY);
    await a.elector.start();
    await eventually(async () => assert.ok(a.elector.isLeader));
    assert.equal(api.count({ verb: 'get', path: leasePath('flaky') }) >= 3, true, 'two failed reads, then');

    // One failed renewal is within the renew deadline: still leading.
    const updates = api.count({ verb: 'update', path: leasePath('flaky') });
    api.failNext({ path: leasePath('flaky'), verb: 'update', count: 1, code: 500 });
    await eventually(async () =>
      assert.ok(api.count({ verb: 'update', path: leasePath('flaky') }) >= updates + 3),
    );
    assert.deepEqual(a.calls, ['started']);

    // Every request failing for longer than the renew deadline (1 s at 100 ms retries): it steps down,
    // then, as a candidate again, takes the Lease back once the API answers.
    api.failNext({ path: leasePath('flaky'), count: 20, code: 500 });
    await eventually(async () => assert.deepEqual(a.calls.slice(0, 2), ['started', 'stopped']), 10_000);
    await eventually(async () => assert.deepEqual(a.calls, ['started', 'stopped', 'started']), 10_000);
  });

  it('refuses settings under which two replicas could lead at once', () => {
    const make = (o: Partial<LeaderElectorOptions>) => () =>
      new LeaderElector(kc, captureLogs().logger, { identity: 'x', ...o });
    assert.throws(make({ leaseDurationMs: 5_000, renewDeadlineMs: 5_000 }), {
      code: 'MESHDNS_KUBE_OPTIONS',
      message: /leaseDurationMs: 5000 must be greater than renewDeadlineMs 5000/,
    });
    assert.throws(
      make({ renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }),
      /renewDeadlineMs: 2000 must be greater/,
    );
    assert.throws(make({ identity: '' }), /identity: is empty/);
  });
});

/**
 * An elector in a process of its own, so the test can kill it as a node dies: no release, no goodbye. Its
 * Lease lasts 5 s, renewed within 4: with 2 and 1, a loaded machine delayed a renewal past the deadline.
 */
function spawnElector(api: KubeApiServer, identity: string, name: string): ChildProcess {
  const index = fileURLToPath(new URL('../../src/controller/kube/index.js', import.meta.url));
  const script = `
    const { KubeConfig } = await import('@kubernetes/client-node');
    const { LeaderElector } = await import(${JSON.stringify(index)});
    const { default: pino } = await import('pino');
    const kc = new KubeConfig();
    kc.loadFromString(process.env.TEST_KUBECONFIG);
    const e = new LeaderElector(kc, pino({ level: 'silent' }), {
      identity: ${JSON.stringify(identity)}, name: ${JSON.stringify(name)}, namespace: ${JSON.stringify(NS)},
      leaseDurationMs: 5000, renewDeadlineMs: 4000, retryPeriodMs: 100,
    });
    await e.start();
  `;
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TEST_KUBECONFIG: api.kubeconfig() },
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
