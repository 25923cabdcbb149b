// SPEC §5 VIP auto-allocation as tables of scenarios. Each scenario is a run of the controller:
// steps share the state the previous step produced, and a `restart` replaces it with what a fresh
// process would read (the state file's content, or nothing at all).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entryAge } from '../../src/allocate/allocator.js';
import { allocate, type StoredAllocation, type VipRanges, vipRanges } from '../../src/allocate/index.js';
import type { Resolution, ServiceEntry } from '../../src/model/index.js';
import { serviceEntry } from '../helpers/resources.js';

interface EntryOptions {
  /** Days after 2024-01-01: smaller is older. Absent: no creationTimestamp. */
  day?: number;
  ns?: string;
  resolution?: Resolution;
  labels?: Record<string, string>;
  addresses?: string[];
  /** status.addresses as [host, value]. */
  status?: [string, string][];
}

function entry(name: string, hosts: string[], o: EntryOptions = {}): ServiceEntry {
  const ns = o.ns ?? 'default';
  const meta = { name, namespace: ns, labels: o.labels ?? {}, annotations: {} };
  const ts =
    o.day === undefined ? {} : { creationTimestamp: new Date(Date.UTC(2024, 0, 1 + o.day)).toISOString() };
  return serviceEntry(ns, name, hosts, {
    meta: { ...meta, ...ts },
    resolution: o.resolution ?? 'DNS',
    addresses: o.addresses ?? [],
    statusAddresses: (o.status ?? []).map(([host, value]) => ({ host, value })),
  });
}

interface Step {
  entries: ServiceEntry[];
  /** Minutes since the scenario began (default: the previous step's time). */
  at?: number;
  /** Files that failed to read or parse in this snapshot. */
  failed?: string[];
  /** Ranges from this step on (a restart with other --vip-range-* flags). */
  ranges?: VipRanges;
  /** A new process: the state it starts from (a state file's content; [] for none or a corrupt one). */
  restart?: StoredAllocation[];
  /** Every host: `ns/name/host` → `v4 v6 state` (`-` for no address). */
  want: Record<string, string>;
  /** Error codes, with the host each names. */
  errors?: string[];
}

interface Scenario {
  name: string;
  ranges?: VipRanges;
  steps: Step[];
}

const V = (n: number) => `240.240.0.${n} 2001:2::${n.toString(16)}`;
const a = (o: EntryOptions = {}) => entry('a', ['a.example.com'], { day: 1, ...o });
const b = (o: EntryOptions = {}) => entry('b', ['b.example.com'], { day: 2, ...o });
const c = (o: EntryOptions = {}) => entry('c', ['c.example.com'], { day: 3, ...o });
const A = 'default/a/a.example.com';
const B = 'default/b/b.example.com';
const C = 'default/c/c.example.com';

const scenarios: Scenario[] = [
  {
    name: 'add: sequential from the first usable address, oldest first',
    steps: [{ entries: [b(), a()], want: { [A]: `${V(1)} new`, [B]: `${V(2)} new` } }],
  },
  {
    name: 'stable across edits of other entries and reordering',
    steps: [
      { entries: [a(), b()], want: { [A]: `${V(1)} new`, [B]: `${V(2)} new` } },
      {
        entries: [b({ resolution: 'DNS_ROUND_ROBIN' }), c(), a()],
        want: { [A]: `${V(1)} allocated`, [B]: `${V(2)} allocated`, [C]: `${V(3)} new` },
      },
    ],
  },
  {
    name: 'delete frees after the grace period, re-add takes the lowest free address',
    steps: [
      { entries: [a(), b(), c()], want: { [A]: `${V(1)} new`, [B]: `${V(2)} new`, [C]: `${V(3)} new` } },
      { at: 1, entries: [b(), c()], want: { [B]: `${V(2)} allocated`, [C]: `${V(3)} allocated` } },
      {
        at: 11,
        entries: [b(), c(), entry('d', ['d.example.com'], { day: 4 })],
        want: {
          [B]: `${V(2)} allocated`,
          [C]: `${V(3)} allocated`,
          'default/d/d.example.com': `${V(1)} new`,
        },
      },
      {
        entries: [a(), b(), c(), entry('d', ['d.example.com'], { day: 4 })],
        want: {
          [A]: `${V(4)} new`,
          [B]: `${V(2)} allocated`,
          [C]: `${V(3)} allocated`,
          'default/d/d.example.com': `${V(1)} allocated`,
        },
      },
    ],
  },
  {
    name: "conflict with a user address: the user's wins, the entry is re-allocated",
    steps: [
      { entries: [a(), b()], want: { [A]: `${V(1)} new`, [B]: `${V(2)} new` } },
      {
        entries: [a(), b(), entry('mine', ['mine.example.com'], { day: 0, addresses: ['240.240.0.1'] })],
        // Only the contested address moves; a's IPv6 address stays.
        want: {
          [A]: '240.240.0.3 2001:2::1 reallocated',
          [B]: `${V(2)} allocated`,
          'default/mine/mine.example.com': '- - user-addresses',
        },
        errors: ['MESHDNS_VIP_CONFLICT a.example.com'],
      },
    ],
  },
  {
    name: 'a user CIDR reserves every address in it',
    steps: [
      {
        entries: [
          a(),
          b(),
          entry('net', ['net.example.com'], { addresses: ['240.240.0.0/30', '2001:2::/126'] }),
        ],
        want: { [A]: `${V(4)} new`, [B]: `${V(5)} new`, 'default/net/net.example.com': '- - user-addresses' },
      },
    ],
  },
  {
    name: 'conflict between entries: the older keeps the address, the newer is re-allocated',
    steps: [
      {
        // Both statuses claim .1 (say, copied between clusters); a is older.
        entries: [
          b({ status: [['b.example.com', '240.240.0.1']] }),
          a({ status: [['a.example.com', '240.240.0.1']] }),
        ],
        want: { [A]: '240.240.0.1 2001:2::1 new', [B]: '240.240.0.2 2001:2::2 reallocated' },
        errors: ['MESHDNS_VIP_CONFLICT b.example.com'],
      },
    ],
  },
  {
    name: 'no creationTimestamp counts as newest; ties go by namespace and name',
    steps: [
      {
        entries: [
          entry('z', ['z.example.com']),
          entry('y', ['y.example.com'], { ns: 'beta' }),
          entry('x', ['x.example.com'], { ns: 'alpha' }),
          b(),
        ],
        want: {
          [B]: `${V(1)} new`,
          'alpha/x/x.example.com': `${V(2)} new`,
          'beta/y/y.example.com': `${V(3)} new`,
          'default/z/z.example.com': `${V(4)} new`,
        },
      },
    ],
  },
  {
    name: 'hosts of one entry in name order',
    steps: [
      {
        entries: [entry('m', ['z.example.com', 'a.example.com', 'z.example.com'], { day: 1 })],
        want: { 'default/m/a.example.com': `${V(1)} new`, 'default/m/z.example.com': `${V(2)} new` },
      },
    ],
  },
  {
    name: 'opt-out label (any case) clears and frees; opting back in allocates afresh',
    steps: [
      { entries: [a(), b()], want: { [A]: `${V(1)} new`, [B]: `${V(2)} new` } },
      {
        entries: [a({ labels: { 'networking.istio.io/enable-autoallocate-ip': 'FALSE' } }), b(), c()],
        want: { [A]: '- - opted-out', [B]: `${V(2)} allocated`, [C]: `${V(1)} new` },
      },
      {
        entries: [a({ labels: { 'networking.istio.io/enable-autoallocate-ip': 'true' } }), b(), c()],
        want: { [A]: `${V(3)} new`, [B]: `${V(2)} allocated`, [C]: `${V(1)} allocated` },
      },
    ],
  },
  {
    name: 'resolution changed to NONE clears and frees',
    steps: [
      { entries: [a(), b()], want: { [A]: `${V(1)} new`, [B]: `${V(2)} new` } },
      {
        entries: [a({ resolution: 'NONE' }), b()],
        want: { [A]: '- - resolution-none', [B]: `${V(2)} allocated` },
      },
      {
        entries: [a({ resolution: 'NONE' }), b(), c()],
        want: { [A]: '- - resolution-none', [B]: `${V(2)} allocated`, [C]: `${V(1)} new` },
      },
    ],
  },
  {
    name: 'wildcards only with DYNAMIC_DNS',
    steps: [
      {
        entries: [
          entry('w', ['*.w.example.com'], { day: 1 }),
          entry('dyn', ['*.dyn.example.com'], { day: 2, resolution: 'DYNAMIC_DNS' }),
          entry('st', ['st.example.com'], { day: 3, resolution: 'STATIC' }),
        ],
        want: {
          'default/w/*.w.example.com': '- - wildcard',
          'default/dyn/*.dyn.example.com': `${V(1)} new`,
          'default/st/st.example.com': `${V(2)} new`,
        },
      },
    ],
  },
  {
    name: 'a host that is an IP address gets no VIP (ip-host); the other hosts of its entry do',
    steps: [
      {
        entries: [entry('ip', ['10.1.2.3', 'ip.example.com'], { day: 1 })],
        want: {
          'default/ip/10.1.2.3': '- - ip-host',
          'default/ip/ip.example.com': `${V(1)} new`,
        },
      },
    ],
  },
  {
    name: 'exhaustion with a /30: the host is left out and named; an address freed after the grace period goes to it',
    ranges: vipRanges('240.240.0.0/30', '2001:2::/48'),
    steps: [
      {
        entries: [a(), b(), c()],
        want: { [A]: `${V(1)} new`, [B]: `${V(2)} new`, [C]: '- - exhausted' },
        errors: ['MESHDNS_VIP_EXHAUSTED c.example.com'],
      },
      {
        at: 1,
        entries: [b(), c()],
        want: { [B]: `${V(2)} allocated`, [C]: '- - exhausted' },
        errors: ['MESHDNS_VIP_EXHAUSTED c.example.com'],
      },
      { at: 11, entries: [b(), c()], want: { [B]: `${V(2)} allocated`, [C]: `${V(1)} new` } },
    ],
  },
  {
    name: 'restart with the state file: addresses kept whatever the order',
    steps: [
      {
        restart: [
          { namespace: 'default', name: 'a', host: 'a.example.com', v4: '240.240.0.7', v6: '2001:2::7' },
          { namespace: 'default', name: 'b', host: 'b.example.com', v4: '240.240.0.3', v6: '2001:2::3' },
          {
            namespace: 'default',
            name: 'gone',
            host: 'gone.example.com',
            v4: '240.240.0.1',
            v6: '2001:2::1',
            // Absent since the start of the epoch: long past the grace period.
            absentSince: new Date(0).toISOString(),
          },
        ],
        at: 60,
        entries: [c(), b(), a()],
        want: { [A]: `${V(7)} allocated`, [B]: `${V(3)} allocated`, [C]: `${V(1)} new` },
      },
    ],
  },
  {
    name: 'restart with status only: status.addresses is the truth, new hosts skip them',
    steps: [
      {
        restart: [],
        entries: [
          a({
            status: [
              ['a.example.com', '240.240.0.2'],
              ['a.example.com', '2001:2:0:0::2'],
            ],
          }),
          b({
            status: [
              ['b.example.com', '240.240.0.1'],
              ['b.example.com', '2001:2::1'],
            ],
          }),
          c(),
        ],
        want: { [A]: `${V(2)} allocated`, [B]: `${V(1)} allocated`, [C]: `${V(3)} new` },
      },
    ],
  },
  {
    // The controller keeps an address of another --vip-range in status after its own (issue 10):
    // switching back, the one in the range is kept and the other set aside.
    name: 'status with an address of another range first: the one in this range is kept',
    steps: [
      {
        restart: [],
        entries: [
          a({
            status: [
              ['a.example.com', '10.77.0.2'],
              ['a.example.com', '240.240.0.4'],
              ['a.example.com', '2001:2::4'],
            ],
          }),
        ],
        want: { [A]: `${V(4)} allocated` },
      },
    ],
  },
  {
    name: 'status beats the state file for the same host',
    steps: [
      {
        restart: [
          { namespace: 'default', name: 'a', host: 'a.example.com', v4: '240.240.0.9', v6: '2001:2::9' },
        ],
        entries: [
          a({
            status: [
              ['a.example.com', '240.240.0.5'],
              ['a.example.com', '2001:2::5'],
            ],
          }),
        ],
        want: { [A]: `${V(5)} allocated` },
      },
    ],
  },
  {
    name: 'corrupt state file (read as empty): addresses still in status are not handed out again',
    steps: [
      {
        restart: [],
        entries: [
          a(),
          b({
            status: [
              ['b.example.com', '240.240.0.1'],
              ['b.example.com', '2001:2::1'],
            ],
          }),
        ],
        want: { [A]: `${V(2)} new`, [B]: `${V(1)} allocated` },
      },
    ],
  },
  {
    name: 'a kept address outside the configured range is kept aside, and restored when the range comes back',
    steps: [
      {
        restart: [
          { namespace: 'default', name: 'a', host: 'a.example.com', v4: '240.240.0.1', v6: '2001:2::1' },
          { namespace: 'default', name: 'b', host: 'b.example.com', v4: '240.240.0.2', v6: '2001:2::2' },
        ],
        ranges: vipRanges('240.240.1.0/24', '2001:2::/48'),
        entries: [a(), b()],
        want: { [A]: '240.240.1.1 2001:2::1 reallocated', [B]: '240.240.1.2 2001:2::2 reallocated' },
        errors: ['MESHDNS_VIP_OUTSIDE_RANGE a.example.com', 'MESHDNS_VIP_OUTSIDE_RANGE b.example.com'],
      },
      {
        // One run with another range must not cost the hosts their addresses (issue 8, finding 5).
        ranges: vipRanges('240.240.0.0/24', '2001:2::/48'),
        entries: [a(), b(), c()],
        want: { [A]: `${V(1)} allocated`, [B]: `${V(2)} allocated`, [C]: `${V(3)} new` },
      },
    ],
  },
  {
    name: 'a deleted entry keeps its VIPs for the grace period: a new entry does not take them',
    steps: [
      {
        at: 0,
        entries: [a(), b(), c()],
        want: { [A]: `${V(1)} new`, [B]: `${V(2)} new`, [C]: `${V(3)} new` },
      },
      {
        at: 1,
        entries: [b(), c(), entry('d', ['d.example.com'], { day: 4 })],
        want: {
          [B]: `${V(2)} allocated`,
          [C]: `${V(3)} allocated`,
          'default/d/d.example.com': `${V(4)} new`,
        },
      },
      {
        at: 9,
        entries: [a(), b(), c(), entry('d', ['d.example.com'], { day: 4 })],
        want: {
          [A]: `${V(1)} allocated`,
          [B]: `${V(2)} allocated`,
          [C]: `${V(3)} allocated`,
          'default/d/d.example.com': `${V(4)} allocated`,
        },
      },
    ],
  },
  {
    name: 'absent for longer than the grace period: the VIPs are freed',
    steps: [
      { at: 0, entries: [a(), b()], want: { [A]: `${V(1)} new`, [B]: `${V(2)} new` } },
      { at: 1, entries: [b()], want: { [B]: `${V(2)} allocated` } },
      { at: 10, entries: [b(), c()], want: { [B]: `${V(2)} allocated`, [C]: `${V(3)} new` } },
      {
        at: 11,
        entries: [b(), c(), entry('d', ['d.example.com'], { day: 4 })],
        want: {
          [B]: `${V(2)} allocated`,
          [C]: `${V(3)} allocated`,
          'default/d/d.example.com': `${V(1)} new`,
        },
      },
    ],
  },
  {
    name: 'an entry whose file failed to load is never absent, even past the grace period',
    steps: [
      {
        at: 0,
        restart: [
          {
            namespace: 'default',
            name: 'a',
            host: 'a.example.com',
            v4: '240.240.0.1',
            v6: '2001:2::1',
            file: 'a.yaml',
          },
        ],
        failed: ['a.yaml'],
        entries: [b()],
        want: { [B]: `${V(2)} new` },
      },
      {
        at: 60,
        failed: ['a.yaml'],
        entries: [b(), c()],
        want: { [B]: `${V(2)} allocated`, [C]: `${V(3)} new` },
      },
      {
        at: 61,
        entries: [a(), b(), c()],
        want: { [A]: `${V(1)} allocated`, [B]: `${V(2)} allocated`, [C]: `${V(3)} allocated` },
      },
    ],
  },
  {
    name: 'an entry that becomes ineligible is freed at once (SPEC §5), not held',
    steps: [
      { at: 0, entries: [a(), b()], want: { [A]: `${V(1)} new`, [B]: `${V(2)} new` } },
      {
        at: 1,
        entries: [a({ resolution: 'NONE' }), b(), c()],
        want: { [A]: '- - resolution-none', [B]: `${V(2)} allocated`, [C]: `${V(1)} new` },
      },
    ],
  },
];

const GRACE_MS = 10 * 60_000;

function rows(result: ReturnType<typeof allocate>): Record<string, string> {
  return Object.fromEntries(
    result.hosts.map((h) => [
      `${h.namespace}/${h.name}/${h.host}`,
      `${h.v4 ?? '-'} ${h.v6 ?? '-'} ${h.state}`,
    ]),
  );
}

describe('allocate (SPEC §5)', () => {
  for (const s of scenarios) {
    it(s.name, () => {
      let ranges = s.ranges ?? vipRanges('240.240.0.0/16', '2001:2::/48');
      let state: readonly StoredAllocation[] = [];
      let at = 0;
      s.steps.forEach((step, i) => {
        if (step.restart) state = step.restart;
        ranges = step.ranges ?? ranges;
        at = step.at ?? at;
        const opts = { now: at * 60_000, graceMs: GRACE_MS, failedFiles: new Set(step.failed ?? []) };
        const result = allocate(step.entries, state, ranges, opts);
        assert.deepEqual(rows(result), step.want, `step ${i}`);
        const errors = result.errors.map((e) => `${e.code} ${/host (\S+):/.exec(e.message)?.[1]}`);
        assert.deepEqual(
          errors,
          step.errors ?? [],
          `step ${i}: ${result.errors.map((e) => e.message).join('\n')}`,
        );
        // Pure: the same input gives the same output, whatever the order of the entries.
        const again = allocate([...step.entries].reverse(), state, ranges, opts);
        assert.deepEqual(rows(again), step.want, `step ${i}, entries reversed`);
        state = result.state;
      });
    });
  }

  it('persists every eligible host holding an address, and serves only complete ones', () => {
    const ranges = vipRanges('240.240.0.0/16', '2001:2::/127');
    const result = allocate([a(), b(), entry('n', ['n.example.com'], { resolution: 'NONE' })], [], ranges, {
      now: 0,
      graceMs: GRACE_MS,
    });
    assert.deepEqual(result.state, [
      {
        namespace: 'default',
        name: 'a',
        host: 'a.example.com',
        v4: '240.240.0.1',
        v6: '2001:2::1',
        file: 'test.yaml',
      },
    ]);
    assert.deepEqual(result.vips(a(), 'a.example.com'), { v4: '240.240.0.1', v6: '2001:2::1' });
    assert.equal(result.vips(b(), 'b.example.com'), undefined, 'no IPv6 left: b is left out entirely');
    assert.match(
      result.errors[0]!.message,
      /^ServiceEntry default\/b \(test\.yaml doc 0\) host b\.example\.com: no free IPv6 address left in 2001:2::\/127; the host is left out of the name table/,
    );
  });
});

describe('entry age (the oldest entry keeps a contested VIP)', () => {
  it('reads timestamps as Date.parse does, Kubernetes form or not', () => {
    const texts = [
      '2024-01-01T00:00:00Z',
      '1999-12-31T23:59:59Z',
      '2024-02-29T12:00:00Z',
      '2023-02-29T12:00:00Z',
      '2024-13-01T00:00:00Z',
      '2024-04-31T00:00:00Z',
      '2024-01-01T24:00:00Z',
      '2024-01-01T00:00:60Z',
      '2024-01-01T00:00:00.000Z',
      '2024-01-01T00:00:00+02:00',
      '2024-01-01 00:00:00Z',
      '2024-01-01T00:00:0xZ',
      'yesterday',
      '1900-02-29T00:00:00Z',
      '2000-02-29T00:00:00Z',
      '2100-02-29T00:00:00Z',
      '0050-01-01T00:00:00Z',
      '0000-02-29T00:00:00Z',
      '1970-01-01T00:00:00Z',
      '2024-00-10T00:00:00Z',
      '2024-06-00T00:00:00Z',
    ];
    for (const text of texts) {
      const se = entry('a', ['a.example.com']);
      const aged = { ...se, meta: { ...se.meta, creationTimestamp: text } };
      const want = Date.parse(text);
      assert.equal(entryAge(aged), Number.isNaN(want) ? Number.POSITIVE_INFINITY : want, text);
    }
  });
});
