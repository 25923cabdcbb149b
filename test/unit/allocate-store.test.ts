// The VIP state file: read back what was written, report a bad file and start over, write whole
// files only (temp + rename), and write nothing when there is nothing to keep.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AllocationFile,
  readAllocationState,
  type StoredAllocation,
  writeAllocationState,
} from '../../src/allocate/index.js';
import type { MeshdnsError } from '../../src/errors.js';

const ONE: StoredAllocation[] = [
  { namespace: 'default', name: 'db-a', host: 'db-a.example.com', v4: '240.240.0.1', v6: '2001:2::1' },
];

describe('VIP state file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshdns-state-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('a missing file is an empty state, without error', async () => {
    assert.deepEqual(await readAllocationState(join(dir, 'none.json')), { allocations: [] });
  });

  it('round trip; the folder is created; no temp file is left behind', async () => {
    const file = join(dir, 'sub', '.meshdns', 'allocations.json');
    await writeAllocationState(file, ONE);
    assert.deepEqual(await readAllocationState(file), { allocations: ONE });
    assert.deepEqual(await readdir(join(dir, 'sub', '.meshdns')), ['allocations.json']);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).version, 1);
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{"version": 1, "allocations": [', /the VIP state file is not JSON/],
    ['wrong version', '{"version": 7, "allocations": []}', /invalid \(version /],
    [
      'bad address',
      '{"version": 1, "allocations": [{"namespace": "d", "name": "a", "host": "h", "v4": "2001:2::1"}]}',
      /invalid \(allocations\[0\]\.v4 /,
    ],
  ];
  for (const [name, text, why] of bad) {
    it(`${name}: reported naming the file, read as empty`, async () => {
      const file = join(dir, `${name}.json`);
      await writeFile(file, text);
      const { allocations, error } = await readAllocationState(file);
      assert.deepEqual(allocations, []);
      assert.equal(error?.code, 'MESHDNS_STATE_INVALID');
      assert.ok(error?.message.startsWith(`${file}: `), error?.message);
      assert.match(error!.message, why);
      assert.match(error!.message, /rebuilt from the manifests/);
    });
  }

  it('AllocationFile: nothing to keep and no file: nothing is written', async () => {
    const file = join(dir, 'empty', 'allocations.json');
    const store = new AllocationFile(file);
    await store.load();
    store.save([], assert.fail);
    await store.flush();
    await assert.rejects(readFile(file), { code: 'ENOENT' });
  });

  it('AllocationFile: a corrupt file is rewritten, an unchanged state is not', async () => {
    const file = join(dir, 'corrupt.json');
    await writeFile(file, 'garbage');
    const store = new AllocationFile(file);
    assert.equal((await store.load()).error?.code, 'MESHDNS_STATE_INVALID');
    store.save([], assert.fail);
    await store.flush();
    assert.deepEqual(await readAllocationState(file), { allocations: [] });
    store.save(ONE, assert.fail);
    await store.flush();
    await writeFile(file, 'touched by hand');
    store.save(ONE, assert.fail);
    await store.flush();
    assert.equal(await readFile(file, 'utf8'), 'touched by hand', 'same state: no write');
  });

  it('AllocationFile: a failed write is reported with its code and retried next time', async () => {
    const blocker = join(dir, 'blocker');
    await writeFile(blocker, 'a file where the folder should be');
    const store = new AllocationFile(join(blocker, 'allocations.json'));
    await store.load();
    const seen: MeshdnsError[] = [];
    store.save(ONE, (e) => seen.push(e));
    await store.flush();
    store.save(ONE, (e) => seen.push(e));
    await store.flush();
    assert.deepEqual(
      seen.map((e) => e.code),
      ['MESHDNS_STATE_WRITE', 'MESHDNS_STATE_WRITE'],
    );
    assert.match(seen[0]!.message, /blocker\/allocations\.json: cannot write the VIP state file/);
  });
});
