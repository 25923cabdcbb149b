// A ServiceEntry host that is an IP address (`hosts: ["10.1.2.3"]`) is not a name: it gets no VIP
// (`meshdns vips` says why: ip-host) and is not in the name table, with or without addresses.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { tempFolder } from '../helpers/manifests.js';
import { runCli } from '../helpers/meshdns.js';

const dir = tempFolder('meshdns-ip-host-');

const ENTRIES = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: by-ip, namespace: default}
spec:
  hosts: ["10.1.2.3", by-ip.example.com]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: with-addresses, namespace: default}
spec:
  hosts: ["10.9.9.9"]
  addresses: [192.0.2.10]
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.9.9.9}]
`;

describe('a ServiceEntry host that is an IP address', () => {
  const manifests = () => join(dir(), 'mesh');
  const state = () => join(dir(), 'state.json');
  before(async () => {
    await mkdir(manifests());
    await writeFile(join(manifests(), 'entries.yaml'), ENTRIES);
  });

  it('vips: no VIP, state ip-host; the entry’s name host gets one', async () => {
    const r = await runCli(['vips', '--manifests', manifests(), '--state-file', state(), '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as {
      host: string;
      v4: string | null;
      v6: string | null;
      state: string;
    }[];
    const byHost = new Map(rows.map((row) => [row.host, row]));
    assert.deepEqual(
      { ...byHost.get('10.1.2.3'), entry: undefined },
      { host: '10.1.2.3', entry: undefined, v4: null, v6: null, state: 'ip-host' },
    );
    assert.equal(byHost.get('by-ip.example.com')?.state, 'new');
    assert.match(byHost.get('by-ip.example.com')?.v4 ?? '', /^240\.240\./);
  });

  it('table: neither IP host is a name; the name host is', async () => {
    const r = await runCli([
      'table',
      '--manifests',
      manifests(),
      '--state-file',
      state(),
      '--search',
      'default.svc.cluster.local',
      '--output',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const names = (JSON.parse(r.stdout) as { name: string }[]).map((rec) => rec.name);
    assert.deepEqual(
      names.filter((n) => n.startsWith('10.')),
      [],
    );
    assert.ok(names.includes('by-ip.example.com.'), names.join(', '));
  });
});
