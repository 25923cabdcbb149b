// Issue 14 item 4 through `meshdns serve`: a deleted entry's VIP goes to no new entry once the grace
// period is over (Istio would hand it out at once), the hold-back is written to the state file, and a
// restarted serve keeps honouring it. The allocator's own clock-driven cases are in
// test/unit/allocate-holdback.test.ts; here the wiring is real: files, the worker, the state file, DNS.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ask } from '../helpers/dns-client.js';
import { serviceEntryYaml, tempFolder } from '../helpers/manifests.js';
import { eventually, runCli, startCli, waitForDns } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';

const NO_UPSTREAM = ['--upstream', '127.0.0.1:9', '--search', 'default.svc.cluster.local'];

async function vipOf(port: number, host: string): Promise<string | undefined> {
  const reply = await ask('udp', port, host, 'A');
  const answer = reply.answers?.find((a) => a.type === 'A');
  return answer && 'data' in answer ? String(answer.data) : undefined;
}

interface StateFile {
  version: number;
  allocations: { name: string; v4?: string; absentSince?: string }[];
  holdback?: { name: string; v4?: string; v6?: string; since: string }[];
}

const readState = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as StateFile;

describe('meshdns serve: VIP hold-back (issue 14 item 4)', () => {
  const dir = tempFolder('meshdns-holdback-');

  it('delete an entry, wait out the grace period, add another: it gets a new VIP, the old one is held back', async () => {
    const folder = join(dir(), 'mesh');
    await mkdir(folder);
    const manifest = join(folder, 'se.yaml');
    const write = (names: [string, number][]) =>
      writeFile(manifest, names.map(([n, day]) => serviceEntryYaml(n, day)).join('---\n'));
    await write([
      ['db', 1],
      ['keep', 2],
    ]);
    const state = join(dir(), 'state.json');
    const port = await freePort('127.0.0.1');
    // A grace period of 1 s: the hold-back (the default hour) is what keeps db's VIP from the newcomer.
    const args = ['--manifests', folder, '--state-file', state, '--vip-release-grace', '1'];
    const serve = startCli(['serve', ...args, '--dns-listen', `127.0.0.1:${port}`, ...NO_UPSTREAM]);
    try {
      await waitForDns('127.0.0.1', port);
      await eventually(async () => assert.equal(await vipOf(port, 'db.example.com'), '240.240.0.1'));

      await write([['keep', 2]]);
      let absentSince = 0;
      await eventually(async () => {
        const db = (await readState(state)).allocations.find((a) => a.name === 'db');
        assert.ok(db?.absentSince, 'db is absent, within its grace period');
        absentSince = Date.parse(db.absentSince);
      }, 15_000);
      // Past the grace period: nothing keeps the VIP for db any more.
      await new Promise((r) => setTimeout(r, Math.max(0, absentSince + 1100 - Date.now())));
      await write([
        ['keep', 2],
        ['newcomer', 3],
      ]);
      await eventually(
        async () => assert.equal(await vipOf(port, 'newcomer.example.com'), '240.240.0.3'),
        15_000,
      );

      await eventually(async () => {
        const written = await readState(state);
        assert.equal(written.version, 3);
        assert.deepEqual(
          written.holdback?.map((h) => [h.name, h.v4, h.v6, Date.parse(h.since)]),
          [['db', '240.240.0.1', '2001:2::1', absentSince]],
        );
        assert.equal(
          written.allocations.find((a) => a.name === 'db'),
          undefined,
          'no longer held for db itself',
        );
      }, 15_000);
    } finally {
      assert.equal(await serve.stop(), 0, serve.output());
    }

    // A new process reads the hold-back back: the next new entry does not get db's VIP either.
    await write([
      ['keep', 2],
      ['newcomer', 3],
      ['later', 4],
    ]);
    const vips = await runCli(['vips', ...args]);
    assert.equal(vips.code, 0, vips.stderr);
    assert.match(vips.stdout, /^later\.example\.com\s+default\/later\s+240\.240\.0\.4\s+2001:2::4\s+new$/m);
    assert.match(
      vips.stdout,
      /^db\.example\.com\s+default\/db\s+240\.240\.0\.1\s+2001:2::1\s+held-back, \S+ \S+ left$/m,
    );
  });
});
