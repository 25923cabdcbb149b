// Issue 14 item 4 in cluster mode: `meshdns controller --kube` keeps the VIPs of deleted ServiceEntries —
// which have no status.addresses any more — in the ConfigMap meshdns-vip-holdback beside its Lease, so a
// new entry does not get a deleted one's VIP, neither from the running leader nor after a restart.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../helpers/dnsmasq.js';
import { type KubeApiServer, type KubeObject, startKubeApi } from '../helpers/kube/index.js';
import { eventually, type Running, startCli, waitForOutput } from '../helpers/meshdns.js';

const SE = 'networking.istio.io/v1';
const NS = 'meshdns-system';
let api: KubeApiServer;
let kubeconfig = '';

before(async () => {
  api = await startKubeApi();
  kubeconfig = await api.writeKubeconfig(await mkdtemp(join(tmpdir(), 'meshdns-kubeconfig-')));
});
after(async () => {
  await api.close();
  await rm(dirname(kubeconfig), { recursive: true, force: true });
});

function serviceEntry(name: string): KubeObject {
  return {
    apiVersion: SE,
    kind: 'ServiceEntry',
    metadata: { name, namespace: 'default' },
    spec: {
      hosts: [`${name}.example.com`],
      ports: [{ number: 5432, name: 'tcp', protocol: 'TCP' }],
      resolution: 'DNS',
    },
  };
}

const statusOf = (name: string) =>
  (
    api.get(SE, 'ServiceEntry', 'default', name)?.status as
      | { addresses?: { value: string; host: string }[] }
      | undefined
  )?.addresses?.map((a) => a.value);

interface Stored {
  version: number;
  allocations: { name: string; v4?: string; absentSince?: string }[];
  holdback?: { name: string; v4?: string; v6?: string; since: string }[];
}

function stored(): Stored | undefined {
  const cm = api.get('v1', 'ConfigMap', NS, 'meshdns-vip-holdback') as
    | { data?: Record<string, string> }
    | undefined;
  const text = cm?.data?.['state.json'];
  return text === undefined ? undefined : (JSON.parse(text) as Stored);
}

async function controller(xds: number, admin: number): Promise<Running> {
  const c = startCli(
    [
      ...['controller', '--kube', '--kubeconfig', kubeconfig, '--xds-listen', `127.0.0.1:${xds}`],
      ...['--admin-listen', `127.0.0.1:${admin}`],
      // A grace period of 1 s: what keeps a deleted entry's VIP from a new one after it is the hold-back.
      ...['--debounce', '20', '--vip-release-grace', '1', '--no-leader-elect'],
    ],
    { env: { POD_NAME: 'controller-0', POD_NAMESPACE: NS } },
  );
  await waitForOutput(c, /"msg":"controller ready"/);
  return c;
}

describe('meshdns controller --kube: VIP hold-back', () => {
  it('a deleted entry’s VIP goes to no new entry, across a restart; the ConfigMap shows it', async () => {
    api.put(serviceEntry('db'));
    api.put(serviceEntry('keep'));
    const xds = await freePort('127.0.0.1');
    const admin = await freePort('127.0.0.1');
    let c = await controller(xds, admin);
    try {
      await eventually(
        () => Promise.resolve(assert.deepEqual(statusOf('db'), ['240.240.0.1', '2001:2::1'])),
        10_000,
      );
      await eventually(
        () => Promise.resolve(assert.deepEqual(statusOf('keep'), ['240.240.0.2', '2001:2::2'])),
        10_000,
      );

      api.delete(SE, 'ServiceEntry', 'default', 'db');
      let absentSince = 0;
      // Deleted: no status to keep its VIP; the ConfigMap keeps it for the grace period.
      await eventually(async () => {
        const db = stored()?.allocations.find((a) => a.name === 'db');
        assert.ok(db?.absentSince, JSON.stringify(stored()));
        absentSince = Date.parse(db.absentSince);
      }, 10_000);
      await new Promise((r) => setTimeout(r, Math.max(0, absentSince + 1100 - Date.now())));
      api.put(serviceEntry('newcomer'));
      await eventually(
        () => Promise.resolve(assert.deepEqual(statusOf('newcomer'), ['240.240.0.3', '2001:2::3'])),
        10_000,
      );
      await eventually(() => {
        const s = stored();
        assert.equal(s?.version, 3);
        assert.deepEqual(
          s.holdback?.map((h) => [h.name, h.v4, h.v6, Date.parse(h.since)]),
          [['db', '240.240.0.1', '2001:2::1', absentSince]],
        );
        assert.deepEqual(s.allocations, [], 'no longer held for db itself');
        return Promise.resolve();
      }, 10_000);
      // The controller's /debug/vips lists it after the hosts, with when it is free again.
      const rows = (await (await fetch(`http://127.0.0.1:${admin}/debug/vips`)).json()) as {
        name: string;
        state: string;
        v4?: string;
        until?: string;
        leftSeconds?: number;
      }[];
      const fetched = Date.now();
      const held = rows.filter((r) => r.state === 'held-back');
      assert.deepEqual(
        held.map((r) => [r.name, r.v4, r.until]),
        [['db', '240.240.0.1', new Date(absentSince + 3_600_000).toISOString()]],
      );
      const least = Math.floor((absentSince + 3_600_000 - fetched) / 1000);
      assert.ok(held[0]!.leftSeconds! >= least && held[0]!.leftSeconds! <= 3600, JSON.stringify(held));
    } finally {
      assert.equal(await c.stop(), 0, c.output());
    }

    // A new process starts from the ConfigMap: db's VIP still goes to no one.
    c = await controller(xds, admin);
    try {
      api.put(serviceEntry('later'));
      await eventually(
        () => Promise.resolve(assert.deepEqual(statusOf('later'), ['240.240.0.4', '2001:2::4'])),
        10_000,
      );
    } finally {
      assert.equal(await c.stop(), 0, c.output());
    }
  });
});
