// The controller's build pacing (issue 10 item 7): a change after a quiet period is built at once, a
// burst is coalesced into one build per debounce period, status read-backs wait and never open a
// period; snapshots taken together keep one delta; the controller's own status writes are told apart.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { vipRanges } from '../../src/allocate/index.js';
import { MeshViews } from '../../src/controller/index.js';
import { BuildPacer, StatusGate } from '../../src/controller/pacer.js';
import { PendingSnapshot } from '../../src/controller/pending-snapshot.js';
import { isStatusEcho } from '../../src/controller/status-echo.js';
import { emptyResources, type Resource, type ServiceEntry } from '../../src/model/index.js';
import { serviceEntry } from '../helpers/resources.js';

/** A pacer on a clock the test moves; its timers are real but never due before the test ends. */
function pacer(debounceMs: number) {
  let now = 0;
  const builds: boolean[] = [];
  const p = new BuildPacer({ debounceMs, build: (urgent) => builds.push(urgent), now: () => now });
  return {
    p,
    builds,
    at: (ms: number) => {
      now = ms;
    },
  };
}

describe('BuildPacer', () => {
  it('builds a change after a quiet period at once, without waiting the debounce', () => {
    const { p, builds, at } = pacer(60_000);
    p.offer(true);
    assert.deepEqual(builds, [true]);
    at(60_000);
    p.offer(true);
    assert.deepEqual(builds, [true, true], 'a period later the next change goes at once too');
    p.close();
  });

  it('coalesces a burst into one build at the end of the period', async () => {
    const { p, builds } = pacer(50);
    p.offer(true);
    for (let i = 0; i < 5; i++) p.offer(true);
    assert.deepEqual(builds, [true], 'the burst waits for the period opened by the first build');
    await sleep(200);
    assert.deepEqual(builds, [true, true], 'and is built once');
    p.close();
  });

  it('lets read-backs wait a period, and never lets them delay an urgent change', async () => {
    const { p, builds } = pacer(50);
    p.offer(false);
    p.offer(false);
    assert.deepEqual(builds, [], 'not urgent: waits');
    p.offer(true);
    assert.deepEqual(builds, [true], 'an urgent change takes them along at once');
    p.offer(false);
    await sleep(200);
    assert.deepEqual(builds, [true, false], 'later read-backs are built once, not urgently');
    p.close();
  });

  it('builds nothing once closed', async () => {
    const { p, builds } = pacer(20);
    p.offer(true);
    p.offer(true);
    p.close();
    await sleep(100);
    p.offer(true);
    assert.deepEqual(builds, [true]);
  });
});

const res = emptyResources();
const step = (seq: number, base: number | undefined, removed: Resource[], added: Resource[]) => ({
  snapshot: res,
  errors: [],
  failedFiles: new Set<string>(),
  change: base === undefined ? { seq } : { seq, delta: { base, removed, added } },
});

describe('PendingSnapshot', () => {
  const a = serviceEntry('ns', 'a', ['a.example.com']);
  const a2 = serviceEntry('ns', 'a', ['a2.example.com']);
  const b = serviceEntry('ns', 'b', ['b.example.com']);

  it('folds the deltas of snapshots taken together into one from the first base', () => {
    const pending = new PendingSnapshot();
    pending.add(step(5, 4, [a], [a2]));
    pending.add(step(6, 5, [], [b]));
    pending.add(step(7, 6, [b], []));
    const taken = pending.take()!;
    assert.equal(taken.change.seq, 7);
    assert.deepEqual(taken.change.delta, { base: 4, removed: [a], added: [a2] }, 'b came and went: nothing');
    assert.equal(pending.take(), undefined);
    assert.ok(pending.empty);
  });

  it('gives no delta when one of the snapshots had none or did not follow', () => {
    const pending = new PendingSnapshot();
    pending.add(step(5, 4, [a], [a2]));
    pending.add(step(6, undefined, [], []));
    assert.deepEqual(pending.take()!.change, { seq: 6 });
    pending.add(step(8, 7, [], [b]));
    pending.add(step(10, 9, [], [a]));
    assert.deepEqual(pending.take()!.change, { seq: 10 }, 'seq 9 is missing');
    pending.add(step(11, 10, [], [b]));
    assert.deepEqual(pending.take()!.change.delta, { base: 10, removed: [], added: [b] });
  });
});

describe('isStatusEcho', () => {
  const ranges = vipRanges('240.240.0.0/16', '2001:2::/48');
  const db = serviceEntry('ns', 'db', ['db.example.com'], { resolution: 'DNS' });
  const views = new MeshViews({ ranges, previous: [], graceMs: 0 });
  const allocation = views.update({ ...emptyResources(), serviceEntries: [db] }, { now: 0 }).allocation;
  const vips = allocation.vips(db, 'db.example.com')!;
  const written: ServiceEntry = {
    ...db,
    statusAddresses: [
      { value: vips.v4, host: 'db.example.com' },
      { value: vips.v6, host: 'db.example.com' },
    ],
  };
  const delta = (removed: Resource[], added: Resource[]) => ({ base: 1, removed, added });

  it('is the allocation read back: same spec, status as allocated', () => {
    assert.equal(isStatusEcho(delta([db], [written]), allocation), true);
  });

  it('is not a spec edit, another writer’s status, a new or deleted entry, or anything before the first build', () => {
    const cases: [string, Resource[], Resource[]][] = [
      ['spec edited', [db], [{ ...written, exportTo: ['.'] }]],
      [
        'status by another writer',
        [db],
        [{ ...db, statusAddresses: [{ value: '240.240.9.9', host: 'db.example.com' }] }],
      ],
      ['new entry', [], [written]],
      ['deleted entry', [db], []],
      ['another entry', [db], [{ ...written, meta: { ...written.meta, name: 'other' } }]],
    ];
    for (const [what, removed, added] of cases) {
      assert.equal(isStatusEcho(delta(removed, added), allocation), false, what);
    }
    assert.equal(isStatusEcho(delta([db], [written]), undefined), false, 'no allocation yet');
    assert.equal(isStatusEcho(undefined, allocation), false, 'no delta');
  });
});

describe('StatusGate', () => {
  it('is open until held; a hold closes it until its end, and a later hold extends it', async () => {
    let now = 0;
    const gate = new StatusGate(() => now);
    assert.equal(gate.closed(), undefined);
    gate.hold(20);
    const first = gate.closed();
    assert.ok(first, 'closed while held');
    assert.equal(gate.closed(), first, 'one promise for every waiter');
    now = 5;
    gate.hold(1); // ends before the first hold: no change
    now = 10;
    gate.hold(30); // ends after it: extends
    let opened = false;
    void first.then(() => {
      opened = true;
    });
    await first;
    assert.ok(opened);
    assert.equal(gate.closed(), undefined, 'open once the last hold ended');
    gate.close();
  });

  it('opens at once on close', async () => {
    const gate = new StatusGate();
    gate.hold(600_000);
    const closed = gate.closed();
    assert.ok(closed);
    gate.close();
    await closed;
    assert.equal(gate.closed(), undefined);
  });
});
