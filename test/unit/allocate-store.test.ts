// The VIP state file: read back what was written (v2, and v1 as before), recover record by record,
// fall back to the backup generation, refuse what it must not overwrite (an unknown version, a
// device, a FIFO, a folder), write through symlinks, and one writer per file (the lock).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  AllocationFile,
  type HeldBackVip,
  readAllocationState,
  type StoredAllocation,
  writeAllocationState,
} from '../../src/allocate/index.js';
import type { MeshdnsError } from '../../src/errors.js';
import { tempFolder } from '../helpers/manifests.js';

const A: StoredAllocation = {
  namespace: 'default',
  name: 'db-a',
  host: 'db-a.example.com',
  v4: '240.240.0.1',
  v6: '2001:2::1',
  file: '/srv/mesh/db.yaml',
};
const B: StoredAllocation = {
  namespace: 'default',
  name: 'db-b',
  host: 'db-b.example.com',
  v4: '240.240.0.2',
  v6: '2001:2::2',
  absentSince: '2024-05-01T10:00:00.000Z',
};
const ONE = [A];
const HELD: HeldBackVip = {
  namespace: 'default',
  name: 'gone',
  host: 'gone.example.com',
  v4: '240.240.0.7',
  v6: '2001:2::7',
  since: '2024-05-01T10:00:00.000Z',
};
const TWO = [A, B];

const v1 = (allocations: unknown[]) => `${JSON.stringify({ version: 1, allocations }, null, 2)}\n`;
const v2 = (allocations: unknown[]) => `${JSON.stringify({ version: 2, allocations }, null, 2)}\n`;

/** Loads with the lock held, as `serve` does, and releases it. */
async function loadLocked(file: string) {
  const store = new AllocationFile(file);
  await store.lock();
  try {
    return { store, loaded: await store.load() };
  } catch (e) {
    await store.close();
    throw e;
  }
}

describe('VIP state file: format', () => {
  const dir = tempFolder('meshdns-state-');

  it('a missing file is an empty state, without error', async () => {
    assert.deepEqual(await readAllocationState(join(dir(), 'none.json')), {
      allocations: [],
      holdback: [],
      errors: [],
      notes: [],
    });
  });

  it('round trip as version 2 with file and absentSince; the folder is created; no temp file left', async () => {
    const file = join(dir(), 'sub', '.meshdns', 'allocations.json');
    await writeAllocationState(file, TWO);
    assert.deepEqual((await readAllocationState(file)).allocations, TWO);
    assert.deepEqual(await readdir(join(dir(), 'sub', '.meshdns')), ['allocations.json']);
    assert.equal(await readFile(file, 'utf8'), v2(TWO));
  });

  it('version 1 is read as before and written as version 2 on the next write', async () => {
    const file = join(dir(), 'v1.json');
    const old = { namespace: 'default', name: 'db-a', host: 'db-a.example.com', v4: '240.240.0.1' };
    await writeFile(file, v1([old]));
    const { store, loaded } = await loadLocked(file);
    assert.deepEqual(loaded, { allocations: [old], holdback: [], errors: [], notes: [] });
    store.save(ONE, assert.fail);
    await store.close();
    assert.equal(await readFile(file, 'utf8'), v2(ONE));
    assert.equal(await readFile(`${file}.bak`, 'utf8'), v1([old]), 'the v1 file is the backup');
  });

  it('VIPs held back (issue 14 item 4): written as version 3, read back; version 2 again once none is', async () => {
    const file = join(dir(), 'held.json');
    const held: HeldBackVip = { ...HELD };
    const { store } = await loadLocked(file);
    store.save(ONE, assert.fail, [held]);
    await store.flush();
    const text = await readFile(file, 'utf8');
    assert.equal(JSON.parse(text).version, 3);
    assert.deepEqual(JSON.parse(text).holdback, [held]);
    assert.deepEqual(await readAllocationState(file), {
      allocations: ONE,
      holdback: [held],
      errors: [],
      notes: [],
    });
    store.save(ONE, assert.fail, []);
    await store.close();
    assert.equal(await readFile(file, 'utf8'), v2(ONE));
  });

  it('a bad held-back VIP is skipped and named; the others and every allocation stay', async () => {
    const file = join(dir(), 'held-bad.json');
    const bad = [
      { ...HELD, v4: 'nope' },
      { ...HELD, since: 'an hour ago' },
      { namespace: 'default', name: 'x', host: 'x.example.com', since: HELD.since },
      { ...HELD, v6: '2001:0002:0:0::7' },
    ];
    await writeFile(file, JSON.stringify({ version: 3, allocations: ONE, holdback: bad }));
    const { allocations, holdback, errors } = await readAllocationState(file);
    assert.deepEqual(allocations, ONE);
    assert.deepEqual(holdback, [{ ...HELD, v6: '2001:2::7' }], 'read in the allocator’s own form');
    assert.deepEqual(
      errors.map((e) => e.message.replace(`${file}: `, '')),
      [
        'holdback[0].v4 "nope" is not an IPv4 address; it is skipped (its VIPs are not held back)',
        'holdback[1].since "an hour ago" is not an ISO-8601 time; it is skipped (its VIPs are not held back)',
        'holdback[2] has neither v4 nor v6; it is skipped (its VIPs are not held back)',
      ],
    );
  });

  it('records outside the default VIP ranges are kept untouched (another --vip-range run)', async () => {
    const file = join(dir(), 'ranges.json');
    const other = { namespace: 'ns', name: 'e', host: 'e.example.com', v4: '10.9.0.1', v6: 'fd00::1' };
    await writeFile(file, v2([other, A]));
    const { store, loaded } = await loadLocked(file);
    assert.deepEqual(loaded.allocations, [other, A]);
    store.save([other, A, B], assert.fail);
    await store.close();
    assert.deepEqual((await readAllocationState(file)).allocations, [other, A, B]);
  });
});

describe('VIP state file: recovery', () => {
  const dir = tempFolder('meshdns-state-recovery-');

  it('one bad record among good ones: the good ones are kept, the bad one reported and skipped', async () => {
    const file = join(dir(), 'one-bad.json');
    const bad = { ...B, v4: '2001:2::9' };
    const text = v2([A, bad, { namespace: 'x' }, B, A]);
    await writeFile(file, text);
    const { allocations, errors } = await readAllocationState(file);
    assert.deepEqual(allocations, [A, B]);
    const messages = errors.map((e) => `${e.code}: ${e.message}`);
    assert.equal(messages.length, 3, messages.join('\n'));
    assert.match(
      messages[0]!,
      /^MESHDNS_STATE_INVALID: .*one-bad\.json: allocations\[1\]\.v4 .*2001:2::9.*skipped/,
    );
    assert.match(messages[1]!, /allocations\[2\]\.name .*skipped/);
    assert.match(
      messages[2]!,
      /allocations\[4\]: .*default\/db-a\/db-a\.example\.com.*allocations\[0\].*skipped/,
    );
    assert.equal(await readFile(file, 'utf8'), text, 'reading writes nothing');
  });

  it('records as written and records edited by hand (other valid forms) read the same', async () => {
    // Written records are read without zod; any other form goes through zod's checks.
    const file = join(dir(), 'forms.json');
    const written = { namespace: 'ns', name: 'a', host: 'a.example.com', v4: '240.240.0.7', v6: '2001:2::7' };
    const edited = {
      namespace: 'ns',
      name: 'b',
      host: 'b.example.com',
      v4: '240.240.0.8',
      v6: '2001:2:0:0::8',
    };
    const upper = { namespace: 'ns', name: 'c', host: 'c.example.com', v6: '2001:2::A' };
    const offset = { ...written, name: 'd', absentSince: '2026-01-01T01:00:00+01:00' };
    const millis = { ...written, name: 'e', absentSince: '2026-01-01T00:00:00.000Z' };
    await writeFile(file, v2([written, edited, upper, offset, millis]));
    const { allocations, errors } = await readAllocationState(file);
    assert.deepEqual(errors, []);
    assert.deepEqual(allocations, [written, edited, upper, offset, millis]);
  });

  it('a bad file or absentSince drops only that field: the VIPs stay', async () => {
    const file = join(dir(), 'bad-meta.json');
    await writeFile(
      file,
      v2([
        { ...A, file: 7 },
        { ...B, absentSince: 'yesterday' },
      ]),
    );
    const { allocations, errors } = await readAllocationState(file);
    const { file: _f, ...aWithout } = A;
    const { absentSince: _s, ...bWithout } = B;
    assert.deepEqual(allocations, [aWithout, bWithout]);
    assert.equal(errors.length, 2);
    assert.match(errors[1]!.message, /allocations\[1\]\.absentSince .*yesterday.*dropped/);
  });

  const damaged: [string, string, RegExp][] = [
    ['0 bytes', '', /is empty/],
    ['bad JSON', '{"version": 2, "allocations": [', /is not JSON/],
    ['not a state object', '[1, 2]', /not a VIP state file/],
  ];
  for (const [name, text, why] of damaged) {
    it(`${name} with a good backup: the backup's VIPs are used; the damaged file is kept aside`, async () => {
      const sub = join(dir(), name.replaceAll(' ', '-'));
      await mkdir(sub);
      const file = join(sub, 'allocations.json');
      await writeFile(file, text);
      await writeFile(`${file}.bak`, v2(TWO));
      const { store, loaded } = await loadLocked(file);
      assert.deepEqual(loaded.allocations, TWO);
      assert.equal(loaded.errors.length, 1);
      assert.match(loaded.errors[0]!.message, why);
      assert.ok(loaded.errors[0]!.message.startsWith(`${file}: `), loaded.errors[0]!.message);
      assert.match(loaded.errors[0]!.message, /using the backup .*allocations\.json\.bak \(2 allocations\)/);
      const to = /will be moved to (\S+) before it is rewritten/.exec(loaded.notes.join('\n'))?.[1];
      assert.ok(to?.startsWith(`${file}.corrupt-`), loaded.notes.join('\n'));
      // A start that stops before writing leaves everything as it was: the next start does the same.
      await store.close();
      assert.equal(await readFile(file, 'utf8'), text);
      const again = await loadLocked(file);
      assert.deepEqual(again.loaded.allocations, TWO);
      again.store.save([B], assert.fail);
      await again.store.close();
      const aside = (await readdir(sub)).filter((f) => f.startsWith('allocations.json.corrupt-'));
      assert.equal(aside.length, 1);
      assert.equal(await readFile(join(sub, aside[0]!), 'utf8'), text, 'kept byte for byte');
      assert.equal(await readFile(file, 'utf8'), v2([B]));
      assert.equal(await readFile(`${file}.bak`, 'utf8'), v2(TWO), 'the good backup is not replaced');
    });
  }

  it('bad JSON and no backup: an empty state, reported; the damaged file is still kept', async () => {
    const sub = join(dir(), 'no-backup');
    await mkdir(sub);
    const file = join(sub, 'allocations.json');
    await writeFile(file, 'garbage');
    const { store, loaded } = await loadLocked(file);
    assert.deepEqual(loaded.allocations, []);
    assert.match(loaded.errors[0]!.message, /not JSON.*no usable backup.*rebuilt from the manifests/);
    store.save(ONE, assert.fail);
    await store.close();
    const aside = (await readdir(sub)).filter((f) => f.includes('.corrupt-'));
    assert.equal(await readFile(join(sub, aside[0]!), 'utf8'), 'garbage');
    assert.equal(await readFile(file, 'utf8'), v2(ONE));
  });

  it('a file with bad records is kept aside too before it is rewritten', async () => {
    const sub = join(dir(), 'bad-record-aside');
    await mkdir(sub);
    const file = join(sub, 'allocations.json');
    const text = v2([A, { ...B, v6: 'nope' }]);
    await writeFile(file, text);
    const { store, loaded } = await loadLocked(file);
    assert.deepEqual(loaded.allocations, [A]);
    store.save(ONE, assert.fail);
    await store.close();
    const aside = (await readdir(sub)).filter((f) => f.includes('.corrupt-'));
    assert.equal(aside.length, 1);
    assert.equal(await readFile(join(sub, aside[0]!), 'utf8'), text);
  });

  const versions: [string, string, RegExp][] = [
    ['version 7', '{"version": 7, "allocations": []}', /version 7/],
    ['version 4', '{"version": 4, "allocations": [], "more": {}}', /version 4/],
    ['no version', '{"allocations": []}', /no version/],
    ['version "2"', '{"version": "2", "allocations": []}', /version "2"/],
  ];
  for (const [name, text, found] of versions) {
    it(`${name}: refused with MESHDNS_STATE_VERSION; the file is left byte-identical`, async () => {
      const file = join(dir(), `${name.replaceAll(/\W/g, '-')}.json`);
      await writeFile(file, text);
      const refused = (e: MeshdnsError) => {
        assert.equal(e.code, 'MESHDNS_STATE_VERSION');
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        assert.match(e.message, found);
        assert.match(e.message, /versions 1, 2 and 3/);
        assert.match(e.message, /--state-file/);
        return true;
      };
      await assert.rejects(readAllocationState(file), refused);
      await assert.rejects(loadLocked(file), refused);
      assert.equal(await readFile(file, 'utf8'), text);
      assert.deepEqual(
        (await readdir(dir())).filter(
          (f) => f.startsWith(file.split('/').pop()!) && f !== file.split('/').pop(),
        ),
        [],
        'no backup, lock or temp file left',
      );
    });
  }
});

describe('VIP state file: writes', () => {
  const dir = tempFolder('meshdns-state-writes-');

  it('each write keeps the previous content as <file>.bak', async () => {
    const file = join(dir(), 'backup.json');
    const { store } = await loadLocked(file);
    store.save(ONE, assert.fail);
    await store.flush();
    await assert.rejects(readFile(`${file}.bak`), { code: 'ENOENT' }, 'nothing before the first write');
    store.save(TWO, assert.fail);
    await store.flush();
    assert.equal(await readFile(`${file}.bak`, 'utf8'), v2(ONE));
    store.save([B], assert.fail);
    await store.close();
    assert.equal(await readFile(`${file}.bak`, 'utf8'), v2(TWO));
    assert.equal(await readFile(file, 'utf8'), v2([B]));
  });

  it('a symlinked state file stays a symlink to fresh content', async () => {
    const real = join(dir(), 'real');
    const links = join(dir(), 'links');
    await mkdir(real);
    await mkdir(links);
    const target = join(real, 'allocations.json');
    const link = join(links, 'allocations.json');
    await writeFile(target, v2(ONE));
    await symlink(target, link);
    const { store, loaded } = await loadLocked(link);
    assert.deepEqual(loaded.allocations, ONE);
    store.save(TWO, assert.fail);
    await store.close();
    assert.ok((await lstat(link)).isSymbolicLink(), 'still a symlink');
    assert.equal(await readlink(link), target);
    assert.equal(await readFile(target, 'utf8'), v2(TWO));
    assert.deepEqual(await readdir(links), ['allocations.json'], 'nothing written beside the link');
    assert.deepEqual((await readdir(real)).sort(), ['allocations.json', 'allocations.json.bak']);
  });

  it('a dangling symlink: the first write creates its target', async () => {
    const target = join(dir(), 'later', 'allocations.json');
    const link = join(dir(), 'dangling.json');
    await symlink(target, link);
    const { store } = await loadLocked(link);
    store.save(ONE, assert.fail);
    await store.close();
    assert.ok((await lstat(link)).isSymbolicLink());
    assert.equal(await readFile(target, 'utf8'), v2(ONE));
  });

  const notFiles: [string, () => Promise<string>][] = [
    ['/dev/null', async () => '/dev/null'],
    [
      'a FIFO',
      async () => {
        const fifo = join(dir(), 'fifo');
        execFileSync('mkfifo', [fifo]);
        return fifo;
      },
    ],
    [
      'a folder',
      async () => {
        const folder = join(dir(), 'folder');
        await mkdir(folder);
        return folder;
      },
    ],
    [
      'a symlink to /dev/null',
      async () => {
        const link = join(dir(), 'null-link');
        await symlink('/dev/null', link);
        return link;
      },
    ],
  ];
  for (const [name, make] of notFiles) {
    it(`${name}: refused with MESHDNS_STATE_NOT_A_FILE, never replaced`, async () => {
      const file = await make();
      const before = await stat(file);
      const refused = (e: MeshdnsError) => {
        assert.equal(e.code, 'MESHDNS_STATE_NOT_A_FILE');
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        assert.match(e.message, /not a regular file/);
        return true;
      };
      await assert.rejects(loadLocked(file), refused);
      await assert.rejects(readAllocationState(file), refused);
      await assert.rejects(writeAllocationState(file, ONE), refused);
      const after = await stat(file);
      assert.equal(after.ino, before.ino);
      assert.equal(after.mode, before.mode);
      await assert.rejects(lstat('/dev/null.lock'), { code: 'ENOENT' });
    });
  }

  it('nothing to keep and no file: nothing is written', async () => {
    const file = join(dir(), 'empty', 'allocations.json');
    const { store } = await loadLocked(file);
    store.save([], assert.fail);
    await store.close();
    await assert.rejects(readFile(file), { code: 'ENOENT' });
  });

  it('closed: a save comes too late and writes nothing (its lock is released; a successor may hold it)', async () => {
    // Found by a SIGTERM during start-up: the folder's first snapshot arrived after close(), its write
    // began after the lock was released, and the process ended mid-write (a temp file left beside it).
    const file = join(dir(), 'closed', 'allocations.json');
    const { store } = await loadLocked(file);
    store.save(ONE, assert.fail);
    await store.close();
    const first = await readFile(file, 'utf8');
    store.save(TWO, assert.fail);
    await store.flush();
    assert.equal(await readFile(file, 'utf8'), first);
    assert.deepEqual(
      (await readdir(join(dir(), 'closed'))).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  it('an unchanged state is not rewritten', async () => {
    const file = join(dir(), 'unchanged.json');
    const { store } = await loadLocked(file);
    store.save(ONE, assert.fail);
    await store.flush();
    await writeFile(file, 'touched by hand');
    store.save(ONE, assert.fail);
    await store.close();
    assert.equal(await readFile(file, 'utf8'), 'touched by hand', 'same state: no write');
  });

  it('a failed write is reported with its code and retried next time', async () => {
    const blocker = join(dir(), 'blocker');
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

  it('a legacy file seeds a missing one as a copy; the legacy file is left as it is', async () => {
    const legacy = join(dir(), 'legacy.json');
    await writeFile(legacy, v1([A]));
    const file = join(dir(), 'seeded', 'allocations.json');
    const store = new AllocationFile(file, { seedFrom: legacy });
    await store.lock();
    const loaded = await store.load();
    assert.deepEqual(loaded.allocations, [A]);
    assert.match(loaded.notes.join('\n'), new RegExp(`copied from ${legacy}`));
    store.save(TWO, assert.fail);
    await store.close();
    assert.equal(await readFile(legacy, 'utf8'), v1([A]));
    assert.equal(await readFile(file, 'utf8'), v2(TWO));
    // Once the file exists the legacy one is not read again.
    await writeFile(legacy, v1([]));
    assert.deepEqual((await readAllocationState(file, { seedFrom: legacy })).allocations, TWO);
  });
});

describe('VIP state file: one writer (the lock)', () => {
  const dir = tempFolder('meshdns-state-lock-');

  it('a second writer is refused naming the holder; after close the file can be taken', async () => {
    const file = join(dir(), 'allocations.json');
    const first = new AllocationFile(file);
    await first.lock();
    const second = new AllocationFile(file);
    await assert.rejects(second.lock(), (e: MeshdnsError) => {
      assert.equal(e.code, 'MESHDNS_STATE_LOCKED');
      assert.match(e.message, new RegExp(`^${file}: .*pid ${process.pid} on ${hostname()}`));
      assert.match(e.message, /allocations\.json\.lock/);
      return true;
    });
    await first.close();
    await assert.rejects(lstat(`${file}.lock`), { code: 'ENOENT' }, 'released on close');
    await second.lock();
    await second.close();
  });

  it("a stale lock (its pid is dead on this host) is taken over; another host's is not", async () => {
    const file = join(dir(), 'stale.json');
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(`${file}.lock`, JSON.stringify({ pid: dead, hostname: hostname(), token: 'x' }));
    const store = new AllocationFile(file);
    await store.lock();
    await store.close();
    await writeFile(`${file}.lock`, JSON.stringify({ pid: dead, hostname: 'elsewhere', token: 'y' }));
    await assert.rejects(new AllocationFile(file).lock(), /pid \d+ on elsewhere/);
    await assert.rejects(new AllocationFile(file).lock(), /remove .*stale\.json\.lock/);
  });

  it('the lock of a symlinked file is taken beside its target', async () => {
    const target = join(dir(), 'target.json');
    const link = join(dir(), 'link.json');
    await symlink(target, link);
    const viaLink = new AllocationFile(link);
    await viaLink.lock();
    await assert.rejects(new AllocationFile(target).lock(), { code: 'MESHDNS_STATE_LOCKED' });
    await viaLink.close();
  });
});
