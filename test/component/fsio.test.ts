// The batch file reader (src/netio/fsio.c) and the read-ahead of big scans built on it (issue 8): what
// it reads must be what readManifestFile reads, with the same stamp, and anything it cannot vouch for
// (not a file, gone, too big, too fresh, changed) is left to readManifestFile.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FSIO_STATUS, loadFsioAddon } from '../../src/netio/index.js';
import { ManifestFolder } from '../../src/sources/index.js';
import { readFolder } from '../../src/sources/listing.js';
import { type FileRead, type ReadRules, readManifestFile, Stamp } from '../../src/sources/read.js';
import { READ_AHEAD_MIN, ReadAhead } from '../../src/sources/read-ahead.js';
import { Stamps } from '../../src/sources/stamps.js';

const addon = loadFsioAddon();
const NO_ADDON = addon.binding ? undefined : `native file reader unavailable: ${addon.reason}`;

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshdns-fsio-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const manifest = (i: number) =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-${i}\n  namespace: ns\nspec:\n  clusterIP: 10.96.0.${(i % 250) + 1}\n  ports:\n    - port: 80\n`;

/** `n` manifests, named in order. */
function manifests(dir: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const file = join(dir, `m-${String(i).padStart(4, '0')}.yaml`);
    writeFileSync(file, manifest(i));
    return file;
  });
}

const fields = (meta: Float64Array, i: number, n: number) => [...meta.subarray(i * n, i * n + n)];

describe('fsio: readFiles', { skip: NO_ADDON }, () => {
  const b = addon.binding!;

  it('reads files whole, with the stat node:fs gives (stamps compare equal)', async () => {
    const dir = folder();
    const files = manifests(dir, 3);
    writeFileSync(join(dir, 'empty.yaml'), '');
    files.push(join(dir, 'empty.yaml'));
    const [meta, bytes] = await b.readFiles(files, 1 << 20, 1 << 20);
    for (const [i, file] of files.entries()) {
      const [status, ino, size, mtimeMs, ctimeMs, readAtMs, at] = fields(meta, i, b.fields);
      const s = statSync(file);
      assert.deepEqual(
        [status, ino, size, mtimeMs, ctimeMs],
        [FSIO_STATUS.read, s.ino, s.size, s.mtimeMs, s.ctimeMs],
      );
      assert.ok(Math.abs(readAtMs! - Date.now()) < 5000, 'read time is wall-clock milliseconds');
      assert.equal(bytes.toString('utf8', at, at! + size!), i < 3 ? manifest(i) : '');
    }
  });

  it('says what it did not read, and why', async () => {
    const dir = folder();
    const [small] = manifests(dir, 1);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, 'x'.repeat(5000));
    const fifo = join(dir, 'fifo.yaml');
    const mk = spawnSync('mkfifo', [fifo]);
    const paths = [dir, join(dir, 'gone.yaml'), big, 'with\0nul', small!, ...(mk.status === 0 ? [fifo] : [])];
    const [meta] = await b.readFiles(paths, 4096, 1 << 20);
    const status = (i: number) => meta[i * b.fields];
    assert.equal(status(0), FSIO_STATUS.notAFile);
    assert.equal(status(1), -2, 'ENOENT');
    assert.equal(status(2), FSIO_STATUS.tooBig);
    assert.equal(meta[2 * b.fields + 2], 5000, 'a file too big still has its size');
    assert.equal(status(3), -2, 'a path with a NUL names no file');
    assert.equal(status(4), FSIO_STATUS.read);
    if (mk.status === 0) assert.equal(status(5), FSIO_STATUS.notAFile, 'a FIFO, without hanging');
  });

  it('refuses arguments it cannot use, before reading anything', () => {
    const call = b.readFiles as unknown as (...args: unknown[]) => unknown;
    assert.throws(() => call(['/x']), /readFiles\(paths, maxBytes, batchBytes\)/);
    assert.throws(() => call(['/x'], Number.NaN, 1), /numbers from 0 to 2\^53/);
    assert.throws(() => call(['/x'], 1, Number.POSITIVE_INFINITY), /numbers from 0 to 2\^53/);
    assert.throws(() => call([42], 1, 1), /every path must be a string/);
  });

  it('stops reading once a batch has its bytes, and says which files it skipped', async () => {
    const files = manifests(folder(), 10);
    const [meta, bytes] = await b.readFiles(files, 1 << 20, 1);
    assert.equal(meta[0], FSIO_STATUS.read);
    for (let i = 1; i < 10; i++) assert.equal(meta[i * b.fields], FSIO_STATUS.skipped);
    assert.equal(bytes.length, manifest(0).length);
    const [none] = await b.readFiles([], 1 << 20, 1 << 20);
    assert.equal(none.length, 0);
  });
});

describe('fsio: checkStamps', { skip: NO_ADDON }, () => {
  const b = addon.binding!;
  const stampOf = (s: Stats) => [s.ino, s.size, s.mtimeMs, s.ctimeMs];

  it('compares each stat with its stamp as statSync sees it, symlinks followed', async () => {
    const dir = folder();
    const [file, edited] = manifests(dir, 2);
    const link = join(dir, 'link.yaml');
    symlinkSync(file!, link);
    const paths = [file!, link, dir, join(dir, 'gone.yaml'), edited!, join(dir, 'unstamped.yaml')];
    const s = statSync(file!);
    const stamps = new Float64Array([
      ...stampOf(s),
      ...stampOf(s),
      ...stampOf(statSync(dir)),
      ...stampOf(s),
      ...stampOf(statSync(edited!)),
      Number.NaN,
      0,
      0,
      0,
    ]);
    writeFileSync(edited!, `${manifest(1)}# edited\n`);
    const changed = await b.checkStamps(Buffer.from(`${paths.join('\0')}\0`), stamps, paths.length);
    // The file and the link to it match; a folder is not a file; gone; edited; NaN: not checked.
    assert.deepEqual([...changed], [2, 3, 4]);
    assert.deepEqual([...(await b.checkStamps(Buffer.from(`${file}\0`), stamps, 1))], []);
    assert.deepEqual([...(await b.checkStamps(Buffer.alloc(0), new Float64Array(0), 0))], []);
  });

  it('sees a change of any one field: inode, size, mtime, ctime', async () => {
    const [file] = manifests(folder(), 1);
    const base = stampOf(statSync(file!));
    const paths = Buffer.from(`${file}\0`.repeat(4));
    const stamps = new Float64Array(16);
    for (let f = 0; f < 4; f++) {
      stamps.set(base, f * 4);
      stamps[f * 4 + f]! += 1;
    }
    assert.deepEqual([...(await b.checkStamps(paths, stamps, 4))], [0, 1, 2, 3]);
  });

  it('refuses arguments it cannot use, and a buffer with fewer paths than its count', async () => {
    const call = b.checkStamps as unknown as (...args: unknown[]) => unknown;
    const one = Buffer.from('/x\0');
    assert.throws(() => call(one, new Float64Array(4)), /checkStamps\(paths, stamps, count\)/);
    assert.throws(() => call('/x\0', new Float64Array(4), 1), /checkStamps\(paths: Buffer/);
    assert.throws(() => call(one, new Float32Array(4), 1), /Float64Array of 4 per path/);
    assert.throws(() => call(one, new Float64Array(3), 1), /Float64Array of 4 per path/);
    assert.throws(() => call(one, new Float64Array(8), 1.5), /count: integer/);
    assert.throws(() => call(one, new Float64Array(8), -1), /count: integer/);
    await assert.rejects(b.checkStamps(one, new Float64Array(8), 2), /fewer paths than count/);
    await assert.rejects(b.checkStamps(Buffer.from('/x'), new Float64Array(4), 1), /fewer paths than count/);
  });
});

describe('fsio: listDirs', { skip: NO_ADDON }, () => {
  const b = addon.binding!;
  const listing = async (dir: string) => {
    const read = await readFolder(dir);
    assert.ok(read, `${dir} listed`);
    return { digest: read.digest, entries: [...read.entries()].sort(([x], [y]) => (x < y ? -1 : 1)) };
  };

  it('lists the entries that are not dot-names with their types, as readdir does', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'a.yaml'), 'x');
    writeFileSync(join(dir, 'ünïcode-名前.yaml'), 'x');
    mkdirSync(join(dir, 'sub'));
    symlinkSync(join(dir, 'a.yaml'), join(dir, 'link.yaml'));
    assert.equal(spawnSync('mkfifo', [join(dir, 'pipe')]).status, 0, 'mkfifo');
    writeFileSync(join(dir, '.hidden.yaml'), 'x');
    mkdirSync(join(dir, '.git'));
    const { entries } = await listing(dir);
    assert.deepEqual(entries, [
      ['a.yaml', 'f'],
      ['link.yaml', 'l'],
      ['pipe', 'o'],
      ['sub', 'd'],
      ['ünïcode-名前.yaml', 'f'],
    ]);
    // In node's order too: libuv sorts what scandir gives (the folder source walks the files in it).
    const node = readdirSync(dir).filter((n) => !n.startsWith('.'));
    assert.deepEqual(
      [...(await readFolder(dir))!.entries()].map(([n]) => n),
      node,
    );
  });

  it('gives the same digest for the same names and types in any order', async () => {
    const one = folder();
    const two = folder();
    const names = Array.from({ length: 200 }, (_, i) => `m-${i}.yaml`);
    for (const name of names) writeFileSync(join(one, name), 'x');
    for (const name of [...names].reverse()) writeFileSync(join(two, name), 'other bytes');
    writeFileSync(join(two, '.m-1.yaml.swp'), 'x');
    const first = await listing(one);
    const order = (dir: string) => readdirSync(dir).filter((n) => !n.startsWith('.'));
    // tmpfs lists the newest first, ext4 by hash: either way both are compared whatever the order.
    assert.deepEqual(order(one).sort(), order(two).sort());
    assert.equal((await listing(two)).digest, first.digest);
    const entries = async (dir: string) => [...(await readFolder(dir))!.entries()].map(([n]) => n);
    assert.deepEqual(await entries(two), order(two), "in node's order");
    // Saved by rename over itself: the folder's times move, its entries do not.
    writeFileSync(join(one, '.m-7.yaml.tmp'), 'new');
    renameSync(join(one, '.m-7.yaml.tmp'), join(one, 'm-7.yaml'));
    assert.equal((await listing(one)).digest, first.digest);
  });

  it('differs when an entry is added, removed, renamed or changes type', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'a.yaml'), 'x');
    writeFileSync(join(dir, 'b.yaml'), 'x');
    const seen = new Set([(await listing(dir)).digest]);
    const step = async (what: string, change: () => void) => {
      change();
      const { digest } = await listing(dir);
      assert.ok(!seen.has(digest), `${what}: a digest seen before`);
      seen.add(digest);
    };
    await step('added', () => writeFileSync(join(dir, 'c.yaml'), 'x'));
    await step('removed', () => unlinkSync(join(dir, 'a.yaml')));
    await step('renamed', () => renameSync(join(dir, 'b.yaml'), join(dir, 'd.yaml')));
    await step('a file made a folder', () => {
      unlinkSync(join(dir, 'd.yaml'));
      mkdirSync(join(dir, 'd.yaml'));
    });
    await step('a folder made a symlink', () => {
      rmSync(join(dir, 'd.yaml'), { recursive: true });
      symlinkSync(join(dir, 'c.yaml'), join(dir, 'd.yaml'));
    });
  });

  it('reports a folder it cannot list by errno, and refuses what is not a list of paths', async () => {
    const dir = folder();
    const [file] = manifests(dir, 1);
    const [meta] = await b.listDirs([join(dir, 'gone'), file!, dir]);
    assert.equal(meta[0], -constants.errno.ENOENT);
    assert.equal(meta[b.fields], -constants.errno.ENOTDIR);
    assert.equal(meta[2 * b.fields], FSIO_STATUS.read);
    assert.equal(meta[2 * b.fields + 1], 1);
    assert.equal(await readFolder(join(dir, 'gone')), undefined);
    assert.throws(
      () => (b.listDirs as unknown as (x: unknown) => unknown)([7]),
      /every path must be a string/,
    );
    assert.throws(() => (b.listDirs as unknown as () => unknown)(), /listDirs\(paths\)/);
  });
});

describe('fsio: read-ahead of a scan', { skip: NO_ADDON }, () => {
  const rules = { maxBytes: 1 << 20, settleMs: 0 };

  /** Every file of the read-ahead, in order, with what it gives under `under`. */
  async function takeAll(ahead: ReadAhead, under: ReadRules): Promise<Map<string, FileRead | undefined>> {
    const out = new Map<string, FileRead | undefined>();
    for await (const batch of ahead.batches())
      for (const [i, file] of batch.files.entries()) out.set(file, batch.take(i, under));
    return out;
  }

  it('gives what readManifestFile gives', async () => {
    const files = manifests(folder(), READ_AHEAD_MIN + 300);
    const ahead = ReadAhead.of(files, rules.maxBytes)!;
    assert.ok(ahead, 'a read-ahead for a scan this big');
    const taken = await takeAll(ahead, rules);
    assert.deepEqual([...taken.keys()], files, 'every file once, in order');
    for (const file of files) assert.deepEqual(taken.get(file), await readManifestFile(file, rules));
    assert.equal(
      ReadAhead.of(files.slice(0, READ_AHEAD_MIN - 1), rules.maxBytes),
      undefined,
      'a small scan reads file by file',
    );
  });

  it('leaves to readManifestFile what it cannot vouch for', async () => {
    const dir = folder();
    const files = manifests(dir, READ_AHEAD_MIN);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(2000)}\n`);
    const sub = join(dir, 'sub.yaml');
    mkdirSync(sub);
    const gone = join(dir, 'gone.yaml');
    const small = { maxBytes: 1000, settleMs: 0 };
    const all = [...files, big, sub, gone];
    const taken = await takeAll(ReadAhead.of(all, small.maxBytes)!, small);
    assert.equal(taken.get(files[0]!)?.kind, 'text');
    for (const file of [big, sub, gone]) assert.equal(taken.get(file), undefined, file);
    // Changed less than the settle time before it was read (all of them, a minute): not to be trusted.
    const settling = { ...small, settleMs: 60_000 };
    assert.equal((await takeAll(ReadAhead.of(all, small.maxBytes)!, settling)).get(files[1]!), undefined);
    assert.equal((await readManifestFile(files[1]!, settling)).kind, 'changing');
  });

  it('finds the files changed since they were read; one never read counts without a stat', async () => {
    const dir = folder();
    const files = manifests(dir, READ_AHEAD_MIN + 10);
    const stamps = new Stamps();
    for (const file of files.slice(1)) {
      const read = await readManifestFile(file, rules);
      assert.equal(read.kind, 'text');
      if (read.kind === 'text') stamps.set(file, read.stamp);
    }
    writeFileSync(files[2]!, `${manifest(2)}# edited, longer\n`);
    unlinkSync(files[3]!);
    mkdirSync(files[3]!);
    unlinkSync(files[4]!);
    const pace = async () => {};
    // files[0] was never read: changed without a stat; the others as they were edited, replaced, removed.
    // Never read first, in the list's order; then the changed ones, in no set order.
    const changed = await stamps.changed(files, pace);
    assert.equal(changed?.[0], files[0]);
    assert.deepEqual(changed?.slice(1).sort(), [files[2], files[3], files[4]]);
    assert.equal(await stamps.changed(files.slice(0, READ_AHEAD_MIN - 1), pace), undefined);
    // Forgotten, the last file takes a forgotten one's place: still checked, under its own name.
    const last = files.at(-1)!;
    assert.ok(stamps.delete(files[1]!));
    writeFileSync(last, `${manifest(9)}# edited too\n`);
    assert.deepEqual((await stamps.changed(files.slice(2), pace))?.sort(), [
      files[2],
      files[3],
      files[4],
      last,
    ]);
    assert.equal(stamps.has(files[1]!), false);
    assert.equal(stamps.delete(files[1]!), false);
  });

  it('answers a check for the stamps it started with while files are stamped and forgotten', async () => {
    const dir = folder();
    const files = manifests(dir, READ_AHEAD_MIN + 4);
    const stamps = new Stamps();
    for (const file of files) stamps.set(file, new Stamp(statSync(file)));
    // The last file is edited: its place is the one a file forgotten during the check moves into.
    const last = files.at(-1)!;
    writeFileSync(last, `${manifest(5)}# edited\n`);
    const check = stamps.changed(files, async () => {});
    // While the check runs: the edited file read again, the first forgotten (the last moves into its
    // place), a new one stamped. The check answers for the stamps it started with, under the names it
    // started with; the forgotten file, still listed, is one to read again.
    stamps.set(last, new Stamp(statSync(last)));
    stamps.delete(files[0]!);
    const extra = join(dir, 'extra.yaml');
    writeFileSync(extra, manifest(99));
    stamps.set(extra, new Stamp(statSync(extra)));
    assert.deepEqual(await check, [files[0], last]);
    assert.equal(stamps.size, files.length);
    assert.ok(stamps.matches(last, statSync(last)));
    assert.equal(stamps.matches(files[0]!, statSync(files[0]!)), false);
    // The next check sees the stamps as they are now: nothing changed, the forgotten file never read.
    assert.deepEqual(await stamps.changed([...files, extra], async () => {}), [files[0]]);
  });

  it('looks a listing it saw whole stamped through again once a stamp is forgotten', async () => {
    const files = manifests(folder(), READ_AHEAD_MIN);
    const stamps = new Stamps();
    for (const file of files) stamps.set(file, new Stamp(statSync(file)));
    const pace = async () => {};
    // The same list, as a listing reused as it was gives it: the second time it is not looked through.
    assert.deepEqual(await stamps.changed(files, pace), []);
    assert.deepEqual(await stamps.changed(files, pace), []);
    stamps.delete(files[3]!);
    assert.deepEqual(await stamps.changed(files, pace), [files[3]]);
    assert.deepEqual(await stamps.changed(files, pace), [files[3]], 'still not stamped');
    stamps.set(files[3]!, new Stamp(statSync(files[3]!)));
    assert.deepEqual(await stamps.changed(files, pace), []);
  });

  it('does not take a list as whole stamped when a stamp was forgotten while it was looked through', async () => {
    const files = manifests(folder(), READ_AHEAD_MIN);
    const stamps = new Stamps();
    for (const file of files) stamps.set(file, new Stamp(statSync(file)));
    // Enough names for the look-through to give the caller a turn (every 4,096), stamped though not
    // on disk (they come back as changed, not as never read).
    const names = Array.from({ length: 5000 }, (_, i) => `/nonexistent/meshdns-${i}.yaml`);
    for (const name of names) stamps.set(name, new Stamp({ ino: 1, size: 1, mtimeMs: 1, ctimeMs: 1 }));
    const listed = [...files, ...names];
    let turns = 0;
    const forgetOne = async () => {
      // files[0] has been looked up already when the first turn comes.
      if (turns++ === 0) stamps.delete(files[0]!);
    };
    const first = await stamps.changed(listed, forgetOne);
    assert.ok(turns > 0);
    assert.equal(first?.includes(files[0]!), false, 'stamped when it was looked up');
    // The same list again: files[0] is not stamped now, and must be found.
    const second = await stamps.changed(listed, async () => {});
    assert.equal(second?.[0], files[0]);
  });

  it('checks in batches, and finds each change under its name after files come and go', async () => {
    const dir = folder();
    const files = manifests(dir, 60);
    // Eight batches of eight (the last of four): each one work item of the addon's.
    const stamps = new Stamps({ batch: 8 });
    const stamp = (file: string) => stamps.set(file, new Stamp(statSync(file)));
    const edit = (file: string, n: number) => writeFileSync(file, `${manifest(n)}# edit ${n}\n`);
    for (const file of files) stamp(file);
    const pace = async () => {};
    // In the first, third and last batches; found in stamp order.
    for (const i of [1, 17, 59]) edit(files[i]!, i);
    assert.deepEqual(await stamps.changed(files, pace), [files[1], files[17], files[59]]);
    for (const i of [1, 17, 59]) stamp(files[i]!);
    assert.deepEqual(await stamps.changed(files, pace), []);
    // The last file moves into the forgotten one's place, in the second batch; the fourth, packed
    // before, is unchanged. Both edits are found under their own names.
    assert.ok(stamps.delete(files[9]!));
    const listed = files.filter((_, i) => i !== 9);
    edit(files[59]!, 590);
    edit(files[31]!, 310);
    assert.deepEqual(await stamps.changed(listed, pace), [files[59], files[31]]);
    stamp(files[59]!);
    stamp(files[31]!);
    // A new file takes the last place again; the batch it joins is packed anew.
    const extra = join(dir, 'extra.yaml');
    writeFileSync(extra, manifest(77));
    stamp(extra);
    edit(extra, 78);
    assert.deepEqual(await stamps.changed([...listed, extra], pace), [extra]);
    stamp(extra);
    // Down to fewer batches: the ones left still name their own files.
    for (const file of files.slice(40)) stamps.delete(file);
    edit(files[19]!, 190);
    const left = listed.filter((f) => stamps.has(f));
    assert.deepEqual(await stamps.changed([...left, extra], pace), [files[19]]);
  });

  it('rescans a folder and sees an edit', async () => {
    const dir = folder();
    const files = manifests(dir, 100);
    const big = new ManifestFolder(dir, rules);
    await big.scan();
    const again = await big.scan();
    assert.deepEqual({ changed: again.changed, changing: again.changing }, { changed: false, changing: [] });
    assert.ok(again.checkMs !== undefined && again.checkMs >= 0, 'a full scan says how long its check took');
    writeFileSync(files[7]!, manifest(7).replace('svc-7', 'svc-7-renamed'));
    const result = await big.scan();
    assert.equal(result.changed, true);
    const names = (await big.build()).resources.services.map((s) => s.meta.name);
    assert.ok(names.includes('svc-7-renamed') && !names.includes('svc-7'), 'the edit is seen');
    assert.equal(names.length, 100);
  });

  it("leaves the files past a work item's bytes to readManifestFile", async () => {
    const files = manifests(folder(), READ_AHEAD_MIN);
    const taken = await takeAll(ReadAhead.of(files, rules.maxBytes, 1)!, rules);
    assert.equal(taken.get(files[0]!)?.kind, 'text', 'the first is read whatever the bytes');
    assert.equal(taken.get(files[1]!), undefined);
  });

  it('loads a folder the same as file by file', async () => {
    const dir = folder();
    manifests(dir, 200);
    const big = new ManifestFolder(dir, rules);
    const result = await big.scan();
    assert.equal(result.changed, true);
    const build = await big.build();
    assert.deepEqual(
      build.resources.services.map((s) => s.meta.name).sort(),
      Array.from({ length: 200 }, (_, i) => `svc-${i}`).sort(),
    );
    assert.deepEqual(build.errors, []);
  });
});
