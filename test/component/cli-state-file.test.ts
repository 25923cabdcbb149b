// The VIP state file as `meshdns serve` uses it (issue 8, findings 3, 4 and 6): one writer per file,
// one default file per manifests folder, a damaged file recovered record by record, and files it
// must not overwrite refused at start.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ask } from '../helpers/dns-client.js';
import { serviceEntryYaml, tempFolder } from '../helpers/manifests.js';
import { type Running, runCli, startCli, waitForDns, waitForOutput } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';

const NO_UPSTREAM = ['--upstream', '127.0.0.1:9', '--search', 'default.svc.cluster.local'];

/** `meshdns serve` on a folder, answering on its own port; the state file is the default unless given. */
async function serve(folder: string, args: string[] = []): Promise<{ agent: Running; port: number }> {
  const port = await freePort('127.0.0.1');
  const agent = startCli([
    'serve',
    '--manifests',
    folder,
    '--dns-listen',
    `127.0.0.1:${port}`,
    ...NO_UPSTREAM,
    ...args,
  ]);
  return { agent, port };
}

/** The exit code once the process has exited, or 'running' after `timeoutMs` (then it is stopped). */
async function exitWithin(running: Running, timeoutMs: number): Promise<number | null | 'running'> {
  const exited = new Promise<number | null>((resolve) => {
    if (running.child.exitCode !== null) resolve(running.child.exitCode);
    running.child.on('exit', (code) => resolve(code));
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'running'>((resolve) => {
    timer = setTimeout(() => resolve('running'), timeoutMs);
  });
  const code = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (code === 'running') await running.stop();
  return code;
}

async function vipOf(port: number, host: string): Promise<string | undefined> {
  const reply = await ask('udp', port, host, 'A');
  const answer = reply.answers?.find((a) => a.type === 'A');
  return answer && 'data' in answer ? String(answer.data) : undefined;
}

async function folderOf(dir: string, name: string, entries: [string, number][]): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'se.yaml'), entries.map(([n, day]) => serviceEntryYaml(n, day)).join('---\n'));
  return folder;
}

async function vipsJson(args: string[]): Promise<{ host: string; v4: string | null; state: string }[]> {
  const { code, stdout, stderr } = await runCli(['vips', ...args, '--output', 'json']);
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout);
}

describe('meshdns serve: one writer per state file', () => {
  const dir = tempFolder('meshdns-state-lock-cli-');

  it('a second serve on the same state file exits non-zero and names the pid holding it', async () => {
    const folder = await folderOf(dir(), 'mesh', [['alpha', 1]]);
    const state = join(dir(), 'shared.json');
    const first = await serve(folder, ['--state-file', state]);
    try {
      await waitForDns('127.0.0.1', first.port);
      // Without --state-lock-wait 0 it would wait for the first to stop (a restart), up to 30 s.
      const second = await serve(folder, ['--state-file', state, '--state-lock-wait', '0']);
      const code = await exitWithin(second.agent, 10_000);
      assert.notEqual(code, 0, second.agent.output());
      assert.notEqual(code, 'running', 'the second serve must not run');
      assert.match(second.agent.output(), /MESHDNS_STATE_LOCKED/);
      assert.match(second.agent.output(), new RegExp(`pid ${first.agent.child.pid}\\b`));
      assert.equal(await vipOf(first.port, 'alpha.example.com'), '240.240.0.1', 'the first one still serves');
    } finally {
      assert.equal(await first.agent.stop(), 0);
    }
    // Released on exit: the next one starts.
    const third = await serve(folder, ['--state-file', state]);
    try {
      await waitForDns('127.0.0.1', third.port);
    } finally {
      await third.agent.stop();
    }
  });
});

describe('meshdns serve: the default state file', () => {
  const dir = tempFolder('meshdns-state-default-');

  it('two folders with the same parent keep distinct state files; neither erases the other', async () => {
    // Different ages, so that a rebuild from scratch would give the same addresses to other hosts.
    const one = await folderOf(dir(), 'one', [
      ['one-b', 2],
      ['one-a', 3],
    ]);
    const two = await folderOf(dir(), 'two', [['two-a', 1]]);
    for (const folder of [one, two]) {
      const { agent, port } = await serve(folder);
      try {
        await waitForDns('127.0.0.1', port);
      } finally {
        assert.equal(await agent.stop(), 0, agent.output());
      }
    }
    // Reordered ages: were the allocations lost, one-a would now come first and take .1.
    await writeFile(
      join(one, 'se.yaml'),
      [serviceEntryYaml('one-b', 9), serviceEntryYaml('one-a', 1)].join('---\n'),
    );
    const rows = await vipsJson(['--manifests', one]);
    const byHost = new Map(rows.map((r) => [r.host, r]));
    assert.equal(byHost.get('one-b.example.com')?.v4, '240.240.0.1');
    assert.equal(byHost.get('one-b.example.com')?.state, 'allocated');
    assert.equal(byHost.get('one-a.example.com')?.v4, '240.240.0.2');
    const twoRows = await vipsJson(['--manifests', two]);
    assert.equal(twoRows.find((r) => r.host === 'two-a.example.com')?.state, 'allocated');
    const files = [
      join(dir(), '.meshdns', 'one.allocations.json'),
      join(dir(), '.meshdns', 'two.allocations.json'),
    ];
    for (const f of files) assert.ok((await stat(f)).isFile(), f);
  });

  it('an upgrade starts from a copy of the legacy .meshdns/allocations.json, left as it is', async () => {
    const parent = join(dir(), 'upgrade');
    const folder = await folderOf(parent, 'mesh', [
      ['first', 1],
      ['second', 2],
    ]);
    const legacy = join(parent, '.meshdns', 'allocations.json');
    await mkdir(join(parent, '.meshdns'));
    // The legacy file holds addresses a fresh allocation would not give: they must be kept.
    const text = JSON.stringify({
      version: 1,
      allocations: [
        {
          namespace: 'default',
          name: 'first',
          host: 'first.example.com',
          v4: '240.240.0.7',
          v6: '2001:2::7',
        },
        {
          namespace: 'default',
          name: 'second',
          host: 'second.example.com',
          v4: '240.240.0.3',
          v6: '2001:2::3',
        },
      ],
    });
    await writeFile(legacy, text);
    const rows = await vipsJson(['--manifests', folder]);
    assert.equal(rows.find((r) => r.host === 'first.example.com')?.v4, '240.240.0.7', 'vips reads it too');
    const { agent, port } = await serve(folder);
    try {
      await waitForDns('127.0.0.1', port);
      assert.equal(await vipOf(port, 'first.example.com'), '240.240.0.7');
      assert.equal(await vipOf(port, 'second.example.com'), '240.240.0.3');
      assert.match(agent.output(), /copied from .*\.meshdns\/allocations\.json/);
    } finally {
      assert.equal(await agent.stop(), 0, agent.output());
    }
    assert.equal(await readFile(legacy, 'utf8'), text);
    assert.ok((await stat(join(parent, '.meshdns', 'mesh.allocations.json'))).isFile());
  });
});

describe('meshdns serve: a damaged or foreign state file', () => {
  const dir = tempFolder('meshdns-state-damaged-');

  it('one bad record: the valid records keep their VIPs for their hosts, across a restart (no swap)', async () => {
    const folder = await folderOf(dir(), 'mesh', [
      ['alpha', 1],
      ['beta', 2],
      ['gamma', 3],
    ]);
    const state = join(dir(), 'state.json');
    // Held the other way round from a fresh allocation (alpha is oldest and would get .1).
    await writeFile(
      state,
      JSON.stringify({
        version: 1,
        allocations: [
          {
            namespace: 'default',
            name: 'alpha',
            host: 'alpha.example.com',
            v4: '240.240.0.2',
            v6: '2001:2::2',
          },
          {
            namespace: 'default',
            name: 'beta',
            host: 'beta.example.com',
            v4: '240.240.0.1',
            v6: '2001:2::1',
          },
          {
            namespace: 'default',
            name: 'gamma',
            host: 'gamma.example.com',
            v4: 'not-an-ip',
            v6: '2001:2::3',
          },
        ],
      }),
    );
    for (const round of [1, 2]) {
      const { agent, port } = await serve(folder, ['--state-file', state]);
      try {
        await waitForDns('127.0.0.1', port);
        assert.equal(await vipOf(port, 'alpha.example.com'), '240.240.0.2', `round ${round}`);
        assert.equal(await vipOf(port, 'beta.example.com'), '240.240.0.1', `round ${round}`);
        assert.equal(await vipOf(port, 'gamma.example.com'), '240.240.0.3', `round ${round}`);
        if (round === 1) await waitForOutput(agent, /allocations\[2\]\.v4 .*not-an-ip/);
      } finally {
        assert.equal(await agent.stop(), 0, agent.output());
      }
    }
  });

  it('an unknown version: serve exits non-zero saying so, and the file is left byte-identical', async () => {
    const folder = await folderOf(dir(), 'versioned', [['alpha', 1]]);
    const state = join(dir(), 'future.json');
    const text = '{"version": 4, "allocations": [], "leases": {}}';
    await writeFile(state, text);
    const { agent } = await serve(folder, ['--state-file', state]);
    const code = await exitWithin(agent, 10_000);
    assert.notEqual(code, 'running', 'serve must refuse the file');
    assert.notEqual(code, 0);
    assert.match(agent.output(), new RegExp(`MESHDNS_STATE_VERSION: ${state}: .*version 4`));
    assert.equal(await readFile(state, 'utf8'), text);
  });

  it('a FIFO as --state-file: serve exits non-zero, the FIFO stays a FIFO', async () => {
    const folder = await folderOf(dir(), 'fifo-mesh', [['alpha', 1]]);
    const fifo = join(dir(), 'state.fifo');
    execFileSync('mkfifo', [fifo]);
    const { agent } = await serve(folder, ['--state-file', fifo]);
    const code = await exitWithin(agent, 10_000);
    assert.notEqual(code, 'running', 'serve must refuse the FIFO');
    assert.notEqual(code, 0);
    assert.match(agent.output(), new RegExp(`MESHDNS_STATE_NOT_A_FILE: ${fifo}: `));
    assert.ok((await stat(fifo)).isFIFO());
  });
});
