// A DNS port is shared (SO_REUSEPORT) only with the process a new one replaces: the same key (serve's
// state file, an agent's workload). A second meshdns started on a port in use by mistake used to bind it
// silently and take part of the queries; now it is refused and says who holds the port.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DnsServer } from '../../src/server/index.js';
import { claimFolder, writeClaim } from '../../src/server/port-claim.js';
import { encodeQuery, rcodeOf, sendUdp } from '../helpers/dns-client.js';
import { tempFolder } from '../helpers/manifests.js';
import { serveExamples, startCli, waitForDns, waitForOutput } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';
import { tablePipeline } from '../helpers/table-server.js';

const NAME = 'productpage.default.svc.cluster.local';

describe('sharing the DNS port', () => {
  const servers: DnsServer[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));

  function server(port: number, key: string): DnsServer {
    const s = new DnsServer({ host: '127.0.0.1', port, pipeline: tablePipeline(), sharePort: key });
    servers.push(s);
    return s;
  }

  it('is refused to a server of another key, which names the holder; the holder keeps every query', async () => {
    const port = await freePort('127.0.0.1');
    const first = server(port, 'serve:/a/state.json');
    await first.start();
    assert.equal(first.predecessor, undefined, 'the port was free');
    await assert.rejects(server(port, 'serve:/b/state.json').start(), (err: Error) => {
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}: the port is in use by another meshdns`));
      assert.match(err.message, new RegExp(`pid ${process.pid}, serve:/a/state\\.json`));
      assert.match(err.message, /the same state file \/b\/state\.json/);
      return true;
    });
    const seen = first.udpStats().datagrams;
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sendUdp(port, encodeQuery(NAME, 'A', { id: i }))),
    );
    assert.ok(replies.every((r) => rcodeOf(r) === 0));
    assert.equal(first.udpStats().datagrams - seen, 20, 'nobody else took a share');
  });

  it('is refused when the holder left no claim (not a meshdns that hands over)', async () => {
    const port = await freePort('127.0.0.1');
    await server(port, 'serve:/c/state.json').start();
    await rm(claimFolder('127.0.0.1', port), { recursive: true, force: true });
    await assert.rejects(server(port, 'serve:/c/state.json').start(), /in use by another program/);
  });

  it('is granted to a server of the same key, which learns its predecessor', async () => {
    const port = await freePort('127.0.0.1');
    await server(port, 'agent:sidecar~a').start();
    const second = server(port, 'agent:sidecar~a');
    await second.start();
    assert.equal(second.predecessor, process.pid);
  });
});

describe('the claims', () => {
  const servers: DnsServer[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));

  function unstarted(port: number, key: string): DnsServer {
    const s = new DnsServer({ host: '127.0.0.1', port, pipeline: tablePipeline(), sharePort: key });
    servers.push(s);
    return s;
  }

  async function bound(port: number, key: string): Promise<DnsServer> {
    const s = unstarted(port, key);
    await s.start();
    return s;
  }

  it('are removed with their server, and the folder with the last one', async () => {
    const port = await freePort('127.0.0.1');
    const s = await bound(port, 'serve:/d/state.json');
    const folder = claimFolder('127.0.0.1', port);
    assert.equal((await readdir(folder)).length, 1);
    await s.close();
    await assert.rejects(stat(folder), { code: 'ENOENT' });
  });

  it('of two keys written at once: the later backs out', async () => {
    const port = await freePort('127.0.0.1');
    const first = await writeClaim('127.0.0.1', port, 'serve:/e/state.json');
    await assert.rejects(writeClaim('127.0.0.1', port, 'serve:/f/state.json'), /in use by another meshdns/);
    assert.equal((await readdir(claimFolder('127.0.0.1', port))).length, 1, 'only the first claim is left');
    await first();
  });

  it("of a process gone are removed; a FIFO, a link or another user's folder is never trusted", async () => {
    const port = await freePort('127.0.0.1');
    const holder = await bound(port, 'serve:/g/state.json');
    const folder = claimFolder('127.0.0.1', port);
    // A pid that ran and exited: its claim does not count, and is cleaned up.
    const gone = spawnSync(process.execPath, [
      '-e',
      'process.stdout.write(String(process.pid))',
    ]).stdout.toString();
    await writeFile(
      join(folder, `${gone}-1.json`),
      JSON.stringify({ pid: Number(gone), key: 'serve:/h/state.json' }),
    );
    execFileSync('mkfifo', [join(folder, '99-1.json')]);
    await symlink('/etc/hostname', join(folder, '98-1.json'));
    // Bounded: a FIFO read would never end.
    let timer: NodeJS.Timeout | undefined;
    const refused = await Promise.race([
      unstarted(port, 'serve:/h/state.json')
        .start()
        .then(
          () => 'bound',
          (e: Error) => e.message,
        ),
      new Promise<string>((r) => {
        timer = setTimeout(() => r('hung'), 10_000);
      }),
    ]);
    clearTimeout(timer);
    assert.match(refused, /in use by another meshdns \(pid \d+, serve:\/g\/state\.json\)\. /);
    assert.ok(!(await readdir(folder)).includes(`${gone}-1.json`), 'the dead claim is removed');

    // A folder others can write: its claims cannot be trusted, so the busy port is refused outright.
    await chmod(folder, 0o777);
    await assert.rejects(
      unstarted(port, 'serve:/g/state.json').start(),
      /whose claim cannot be read .*mode 777/,
    );
    await chmod(folder, 0o700);
    await holder.close();
  });
});

describe('two serve on one port', () => {
  const tmp = tempFolder('meshdns-port-claim-');
  const { args } = serveExamples('port-claim');
  const running: ReturnType<typeof startCli>[] = [];
  after(() => Promise.all(running.map((r) => r.stop())));

  it('the second, of another state file, exits non-zero naming the first; the first answers on', async () => {
    const port = await freePort('127.0.0.1');
    const listen = ['--dns-listen', `127.0.0.1:${port}`];
    const first = startCli([...args(), ...listen]);
    running.push(first);
    await waitForDns('127.0.0.1', port);
    const second = startCli([
      ...['serve', '--manifests', 'examples', '--upstream', '127.0.0.1:9'],
      ...['--state-file', join(tmp(), 'other.json'), ...listen],
    ]);
    running.push(second);
    const code = await new Promise<number | null>((resolve, reject) => {
      // Bounded: today's second process would share the port and serve on.
      const t = setTimeout(() => reject(new Error(`still running:\n${second.output()}`)), 20_000);
      second.child.on('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
      if (second.child.exitCode !== null) resolve(second.child.exitCode);
    });
    assert.notEqual(code, 0);
    assert.match(second.output(), new RegExp(`in use by another meshdns \\(pid ${first.child.pid}`));
    await waitForOutput(first, /"msg":"serving DNS"/, 15_000);
    const reply = await sendUdp(port, encodeQuery(NAME, 'A'));
    assert.equal(rcodeOf(reply), 0);
  });
});
