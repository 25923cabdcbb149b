// What 1,024 per-name VIPs (issue 14 item 5) keep in memory, after a full collection: on the controller's
// side (the names, their copies of the entry, the allocator's tables, the table builder, the VIPs and
// routes sent) and on the agent's (its name table, VIPs and routes), both in this one process as in
// `serve`. RSS (the `wildcard` scenario) also counts garbage not yet collected; this counts what stays.
// Usage: node --expose-gc dist/bench/wildcard-memory.js [names]
import { PER_NAME_LABEL, PerNameHosts, vipRanges } from '../src/allocate/index.js';
import { LiveView } from '../src/controller/index.js';
import { nameToKey } from '../src/dns/index.js';
import { emptyResources, type ServiceEntry } from '../src/model/index.js';
import { NameTable, timeSlicer } from '../src/nametable/index.js';

const NAMES = Number(process.argv[2] ?? 1024);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const T0 = Date.UTC(2026, 0, 1);
const W = '*.db.example.com';
const se: ServiceEntry = {
  kind: 'ServiceEntry',
  meta: { name: 'dbs', namespace: 'default', labels: { [PER_NAME_LABEL]: 'true' }, annotations: {} },
  hosts: [W],
  addresses: [],
  ports: [{ number: 5432, protocol: 'TCP', name: 'pg' }],
  location: 'MESH_EXTERNAL',
  resolution: 'DNS',
  endpoints: [],
  exportTo: ['*'],
  statusAddresses: [],
  source: { file: 'dbs.yaml', doc: 0 },
};
const res = emptyResources();
res.serviceEntries.push(se);
const opts = {
  scope: {
    namespace: 'default',
    clusterDomain: 'cluster.local',
    searchDomains: ['default.svc.cluster.local'],
  },
  ranges: vipRanges('240.240.0.0/16', '2001:2::/48'),
  graceMs: 600_000,
};
const hosts = new PerNameHosts({ cap: NAMES, ratePerSecond: NAMES, idleMs: 86_400_000 });
const live = new LiveView(opts.ranges, [], [], hosts);
const slicer = timeSlicer(1000);
// The agent's side: its table and its copies of the VIPs and routes, as remote.ts keeps them.
let table = NameTable.empty();
const vips = new Map<string, unknown>();
const routes = new Map<string, unknown>();
const apply = async (u: ReturnType<LiveView['update']>) => {
  table = await table.withDiff(u.diff, slicer);
  for (const [k, v] of u.vips.set) vips.set(k, v);
  for (const [k, v] of u.routes.set) routes.set(k, v);
};
await apply(live.update(res, undefined, opts, { now: T0 }, { seq: 1 }));
const unchanged = { seq: 1, delta: { base: 1, removed: [], added: [] } };

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const before = heap();
for (let i = 0; i < NAMES; i++) {
  hosts.ask(se, W, `db${i}.db.example.com`, T0 + i);
  const u = live.update(res, undefined, opts, { now: T0 + i }, unchanged);
  await apply(u);
  // The state the controller writes: read as the controller reads it, then let go.
  void u.view.allocation.state.length;
}
// Every name answered once, so the table holds their encoded answers as it does in use.
for (let i = 0; i < NAMES; i++) table.lookup(nameToKey(`db${i}.db.example.com.`));
const after = heap();
const kib = (after - before) / 1024;
process.stdout.write(
  `${NAMES} per-name VIPs: ${(kib / 1024).toFixed(2)} MiB of heap kept (${(kib / NAMES).toFixed(2)} KiB a name), ` +
    `${vips.size} VIPs and ${routes.size} hosts' routes on the agent's side, table of ${table.size} names\n`,
);
