// Issue 8: a VIP never moves while its ServiceEntry exists, under the edits a user really makes —
// a file rewritten in place while entries are added (finding 1), and a file that is broken when
// `serve` starts (finding 2).
import assert from 'node:assert/strict';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ask } from '../helpers/dns-client.js';
import { serviceEntryYaml, tempFolder } from '../helpers/manifests.js';
import { eventually, startCli, waitForDns } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';

const tmp = tempFolder('meshdns-vip-stability-');

/** The A records of `name`, or the rcode when there are none. */
async function a(port: number, name: string): Promise<string> {
  const p = await ask('udp', port, name, 'A', { timeoutMs: 2000 });
  const data = (p.answers ?? []).map((r) => String((r as { data: unknown }).data));
  return data.length > 0 ? data.join(',') : `rcode ${p.raw.readUInt16BE(2) & 0xf}`;
}

async function serve(dir: string, state: string) {
  const port = await freePort('127.0.0.1');
  const run = startCli([
    'serve',
    ...['--manifests', dir, '--dns-listen', `127.0.0.1:${port}`, '--state-file', state],
    ...['--upstream', '127.0.0.1:9', '--upstream-timeout', '300', '--search', 'default.svc.cluster.local'],
    ...['--manifests-rescan-interval', '300'],
  ]);
  await waitForDns('127.0.0.1', port);
  return { port, run };
}

describe('VIPs under ordinary edits (issue 8)', () => {
  it('a file broken when serve starts keeps its entries VIPs; a new entry does not take them', async () => {
    const dir = join(tmp(), 'broken-at-start');
    await mkdir(dir);
    const state = join(tmp(), 'broken-at-start.json');
    await writeFile(join(dir, 'alpha.yaml'), serviceEntryYaml('alpha', 1));
    await writeFile(join(dir, 'beta.yaml'), serviceEntryYaml('beta', 2));
    let { port, run } = await serve(dir, state);
    try {
      assert.equal(await a(port, 'alpha.example.com'), '240.240.0.1');
      assert.equal(await a(port, 'beta.example.com'), '240.240.0.2');
    } finally {
      assert.equal(await run.stop(), 0, run.output());
    }

    // A typo in alpha's file, and a new entry, while serve is down.
    await writeFile(join(dir, 'alpha.yaml'), `${serviceEntryYaml('alpha', 1)}  hosts: [unclosed\n`);
    await writeFile(join(dir, 'gamma.yaml'), serviceEntryYaml('gamma', 3));
    ({ port, run } = await serve(dir, state));
    try {
      assert.equal(await a(port, 'gamma.example.com'), '240.240.0.3', 'gamma took a VIP that is still alpha');
      assert.equal(await a(port, 'beta.example.com'), '240.240.0.2');
      // Fixed: alpha is back on its own VIP.
      await writeFile(join(dir, 'alpha.yaml'), serviceEntryYaml('alpha', 1));
      await eventually(async () => assert.equal(await a(port, 'alpha.example.com'), '240.240.0.1'), 10_000);
    } finally {
      assert.equal(await run.stop(), 0, run.output());
    }
    const saved = JSON.parse(await readFile(state, 'utf8')) as {
      allocations: { host: string; v4: string }[];
    };
    assert.deepEqual(saved.allocations.map((r) => `${r.host} ${r.v4}`).sort(), [
      'alpha.example.com 240.240.0.1',
      'beta.example.com 240.240.0.2',
      'gamma.example.com 240.240.0.3',
    ]);
  });

  it('in-place rewrites of a file while entries are added: its name always answers, its VIP never moves', async () => {
    const dir = join(tmp(), 'in-place');
    await mkdir(dir);
    const file = join(dir, 'alpha.yaml');
    await writeFile(file, serviceEntryYaml('alpha', 1));
    const { port, run } = await serve(dir, join(tmp(), 'in-place.json'));
    const seen = new Map<string, number>();
    let writing = true;
    const asking = (async () => {
      // Bounded: stops with the writer, and at most 5,000 queries.
      for (let i = 0; writing && i < 5000; i++) {
        const got = await a(port, 'alpha.example.com');
        seen.set(got, (seen.get(got) ?? 0) + 1);
      }
    })();
    try {
      const text = serviceEntryYaml('alpha', 1);
      const half = Math.floor(text.length / 2);
      for (let i = 0; i < 200; i++) {
        // `open('w')` truncates, then the content arrives late and in two writes (`cat > file` from a
        // slow producer): a reader in between sees an empty or a half file.
        const h = await open(file, 'w');
        await new Promise((r) => setTimeout(r, 10));
        await h.write(text.slice(0, half));
        await new Promise((r) => setTimeout(r, 10));
        await h.write(text.slice(half));
        await h.close();
        if (i % 10 === 0)
          await writeFile(join(dir, `new-${i}.yaml`), serviceEntryYaml(`new${i}`, 2 + i / 10));
      }
    } finally {
      writing = false;
      await asking;
    }
    try {
      assert.deepEqual([...seen.keys()], ['240.240.0.1'], `answers for alpha: ${JSON.stringify([...seen])}`);
      await eventually(async () => assert.equal(await a(port, 'new190.example.com'), '240.240.0.21'), 10_000);
      assert.equal(await a(port, 'new0.example.com'), '240.240.0.2');
    } finally {
      assert.equal(await run.stop(), 0, run.output());
    }
  });
});
