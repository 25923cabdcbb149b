// The VIP proxy's two relays (issue 13 item 2) on real loopback sockets, the same cases on each: bulk
// bytes both ways, half-close from either side, resets passed on, the idle timeout, many connections at
// once, a listener removed under open connections. And the native relay's build and its fallback.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { nodeIncludeDir } from '../../src/netio/build.js';
import { nativeRelaySupport, VipProxy, type VipRoute } from '../../src/vip/index.js';
import { ROOT } from '../helpers/meshdns.js';
import { freePort } from '../helpers/ports.js';
import { VIP_RELAY_KINDS } from '../helpers/vip-relay.js';

const BACKEND = '127.0.0.71';
const VIP = '127.0.0.72';
/** The backend that never answers a SYN (startStuckBackend). */
const STUCK = '127.0.0.73';
const IDLE_MS = 1000;

/** What the backend does with each connection, chosen by the first line the client sends. */
type Behaviour = 'echo' | 'greet-and-end' | 'reset' | 'hold';

interface Backend {
  server: net.Server;
  port: number;
  /** Per connection: how it ended ('end', an error code, or 'open'), and the bytes it got. */
  seen: { ended: string; got: Buffer[] }[];
}

async function startBackend(): Promise<Backend> {
  const seen: Backend['seen'] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const record = { ended: 'open', got: [] as Buffer[] };
    seen.push(record);
    let mode: Behaviour | undefined;
    s.on('data', (d) => {
      record.got.push(d);
      if (mode === undefined) {
        mode = d.toString().split('\n')[0] as Behaviour;
        if (mode === 'greet-and-end') s.end('hi\n');
        if (mode === 'reset') s.resetAndDestroy();
      }
      if (mode === 'echo' && !s.writableEnded) s.write(d);
    });
    s.on('end', () => {
      record.ended = 'end';
      if (!s.writableEnded) s.end();
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      record.ended = err.code ?? 'error';
    });
  });
  await new Promise<void>((resolve) => server.listen(0, BACKEND, resolve));
  return { server, port: (server.address() as net.AddressInfo).port, seen };
}

/** Connects, sends `first` and `rest`, half-closes, and collects until the proxy's FIN or an error. */
function exchange(port: number, first: string, rest: Buffer = Buffer.alloc(0)) {
  return new Promise<{ got: Buffer; error?: string }>((resolve) => {
    const s = net.connect({ host: VIP, port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('connect', () => {
      s.write(first);
      s.end(rest);
    });
    s.on('end', () => {
      s.end();
      resolve({ got: Buffer.concat(chunks) });
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ got: Buffer.concat(chunks), error: err.code }));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function until(done: () => boolean, what: string, ms = 5000): Promise<void> {
  for (let waited = 0; !done(); waited += 10) {
    if (waited >= ms) assert.fail(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A backend whose SYNs go unanswered, on loopback: a listener in a stopped process (SIGSTOP) with a
 * backlog of one, its accept queue filled by two connections it never takes. Linux then drops further
 * SYNs, so a connect to it stays pending, as to a host that is down.
 */
async function startStuckBackend(host: string): Promise<{ port: number; stop: () => void }> {
  const script = `const s = require('net').createServer(); s.listen({ host: '${host}', port: 0, backlog: 1 }, () => console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`the stuck backend exited (${code})`)));
  });
  child.kill('SIGSTOP');
  const fillers: net.Socket[] = [];
  // The queue holds backlog + 1; connects past it stay in SYN-SENT (that one is left to time out).
  for (let i = 0; i < 3; i++) {
    const s = net.connect({ host, port });
    s.on('error', () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 200));
  return {
    port,
    stop: () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}

for (const relay of VIP_RELAY_KINDS) {
  describe(`VIP relay: ${relay}`, { timeout: 60_000 }, () => {
    let backend: Backend;
    let proxy: VipProxy;
    let port: number;
    let route: VipRoute;
    const stats = () => proxy.stats()[0]!;

    before(async () => {
      backend = await startBackend();
      port = await freePort(VIP);
      proxy = new VipProxy({
        resolve: async () => [],
        connectTimeoutMs: 2000,
        idleTimeoutMs: IDLE_MS,
        logger: pino({ level: 'silent' }),
        relay,
      });
      route = {
        vip: VIP,
        port,
        host: 'relay.example.com',
        resolution: 'STATIC',
        endpoints: [{ address: BACKEND, port: backend.port }],
        hostPort: backend.port,
        origin: 'test',
      };
      await proxy.setRoutes([route]);
      assert.equal(proxy.relayKind, relay);
    });
    after(async () => {
      await proxy.close();
      await new Promise((resolve) => backend.server.close(resolve));
    });

    it('moves 4 MiB each way unchanged, then passes the FIN on both ways', async () => {
      const before = stats();
      const payload = randomBytes(4 << 20);
      const { got, error } = await exchange(port, 'echo\n', payload);
      assert.equal(error, undefined);
      assert.equal(got.length, payload.length + 5);
      assert.equal(sha(got), sha(Buffer.concat([Buffer.from('echo\n'), payload])));
      await until(() => stats().active === 0, 'the connection closed');
      assert.equal(stats().bytesToBackend - before.bytesToBackend, payload.length + 5);
      assert.equal(stats().bytesToClient - before.bytesToClient, payload.length + 5);
      assert.equal(backend.seen.at(-1)!.ended, 'end');
    });

    it('a backend that half-closes first still gets what the client sends after', async () => {
      const s = net.connect({ host: VIP, port, allowHalfOpen: true });
      const closed = new Promise((resolve) => s.once('close', resolve));
      s.write('greet-and-end\n');
      let got = '';
      s.on('data', (d) => {
        got += d;
      });
      await new Promise((resolve) => s.once('end', resolve));
      assert.equal(got, 'hi\n');
      const record = backend.seen.at(-1)!;
      s.end('late words');
      await until(() => record.ended === 'end', "the client's FIN at the backend");
      assert.equal(Buffer.concat(record.got).toString(), 'greet-and-end\nlate words');
      await closed;
    });

    it("a backend's reset resets the client", async () => {
      const { error } = await exchange(port, 'reset\n');
      assert.equal(error, 'ECONNRESET');
    });

    it("a client's reset resets the backend", async () => {
      const s = net.connect({ host: VIP, port });
      s.write('hold\n');
      const count = backend.seen.length;
      await until(
        () => backend.seen.length > count && backend.seen.at(-1)!.got.length > 0,
        'bytes at the backend',
      );
      s.resetAndDestroy();
      const record = backend.seen.at(-1)!;
      await until(() => record.ended !== 'open', 'the backend sees the reset');
      assert.equal(record.ended, 'ECONNRESET');
    });

    it('activity keeps a connection open past the idle timeout; idleness closes it both ways', async () => {
      const s = net.connect({ host: VIP, port, allowHalfOpen: true });
      let got = '';
      s.on('data', (d) => {
        got += d;
      });
      const closed = new Promise<boolean>((resolve) => s.once('close', resolve));
      const ended = new Promise<void>((resolve) => s.once('end', resolve));
      s.write('echo\n');
      // 15 lines 100 ms apart: 1.5 s of traffic, longer than the 1 s idle timeout.
      for (let i = 0; i < 15; i++) {
        await new Promise((r) => setTimeout(r, 100));
        s.write(`${i}\n`);
      }
      await until(() => got.endsWith('14\n'), 'the last echo');
      assert.equal(s.readyState, 'open');
      // Then nothing: the proxy closes both sides, with a FIN, not a reset.
      await ended;
      s.end();
      assert.equal(await closed, false, 'closed without an error');
      const record = backend.seen.at(-1)!;
      await until(() => record.ended !== 'open', 'the backend sees the close');
      assert.equal(record.ended, 'end');
    });

    it('a backend that never completes the handshake: the client is reset after the connect timeout', async () => {
      const stuck = await startStuckBackend(STUCK);
      try {
        const stuckPort = await freePort(VIP);
        const stuckRoute = { ...route, port: stuckPort, endpoints: [{ address: STUCK, port: stuck.port }] };
        await proxy.setRoutes([route, stuckRoute]);
        const statsOf = () => proxy.stats().find((x) => x.port === stuckPort)!;
        const started = Date.now();
        const { got, error } = await exchange(stuckPort, 'echo\n');
        // Not before the timeout (2 s): the handshake was pending, not refused.
        assert.ok(Date.now() - started >= 1900, `reset after ${Date.now() - started} ms`);
        assert.equal(error, 'ECONNRESET');
        assert.equal(got.length, 0);
        assert.equal(statsOf().connectErrors, 1);
        await until(() => statsOf().active === 0, 'the connection no longer counted as active');
      } finally {
        await proxy.setRoutes([route]);
        stuck.stop();
      }
    });

    it('200 connections at once each get their own bytes back', async () => {
      const before = stats().total;
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => exchange(port, 'echo\n', Buffer.from(`conn ${i}`))),
      );
      for (const [i, r] of results.entries()) assert.equal(r.got.toString(), `echo\nconn ${i}`);
      assert.equal(stats().total - before, 200);
      await until(() => stats().active === 0, 'every connection closed');
    });

    it('a route removed closes its open connections; the VIP then refuses', async () => {
      const s = net.connect({ host: VIP, port });
      s.write('hold\n');
      const closed = new Promise((resolve) => s.once('close', resolve));
      s.on('error', () => {});
      await until(() => stats().active === 1, 'the connection is open');
      await proxy.setRoutes([]);
      await closed;
      const refused = await exchange(port, 'echo\n');
      assert.equal(refused.error, 'ECONNREFUSED');
      await proxy.setRoutes([route]);
    });
  });
}

/** A proxy in a process of its own whose fd limit is `fds` (sh's ulimit), ready once it prints "ready". */
async function proxyWithFewFds(relay: string, port: number, backendPort: number, fds: number) {
  const script = `import pino from 'pino';
    import { VipProxy } from './dist/src/vip/index.js';
    const proxy = new VipProxy({ resolve: async () => [], connectTimeoutMs: 2000, idleTimeoutMs: 60000,
      logger: pino({ level: 'silent' }), relay: '${relay}' });
    await proxy.setRoutes([{ vip: '${VIP}', port: ${port}, host: 'fds.example.com', resolution: 'STATIC',
      endpoints: [{ address: '${BACKEND}', port: ${backendPort} }], hostPort: ${backendPort}, origin: 'test' }]);
    process.on('SIGTERM', () => proxy.close().then(() => process.exit(0)));
    process.stdout.write('ready\\n');`;
  const child = spawn(
    'sh',
    ['-c', `ulimit -n ${fds} && exec "$0" --input-type=module -e "$1"`, process.execPath, script],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`proxy exited with ${code}`)));
  });
  return child;
}

for (const relay of VIP_RELAY_KINDS) {
  describe(`VIP relay: ${relay}, out of file descriptors`, { timeout: 60_000 }, () => {
    it('holds what it can, and serves again once connections close', async () => {
      const backend = await startBackend();
      const port = await freePort(VIP);
      const child = await proxyWithFewFds(relay, port, backend.port, 64);
      const held: net.Socket[] = [];
      try {
        // 80 connections want 160 fds: more than the proxy has. Each is opened and asked to hold.
        for (let i = 0; i < 80; i++) {
          const s = net.connect({ host: VIP, port });
          s.on('error', () => {});
          s.write('hold\n');
          held.push(s);
        }
        await until(() => backend.seen.length >= 10, 'some connections reach the backend');
        for (const s of held) s.destroy();
        await until(() => backend.seen.every((r) => r.ended !== 'open'), 'the held connections closed');
        const { got, error } = await exchange(port, 'echo\n', Buffer.from('after'));
        assert.equal(error, undefined);
        assert.equal(got.toString(), 'echo\nafter');
      } finally {
        for (const s of held) s.destroy();
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
        await new Promise((resolve) => backend.server.close(resolve));
      }
    });
  });
}

describe('VIP relay: the native addon', () => {
  it('loads wherever cc and the running Node headers are (CI installs both)', (t) => {
    const cc = spawnSync(process.env.CC || 'cc', ['--version']);
    const include = nodeIncludeDir();
    const headers = typeof include === 'string' && existsSync(join(include, 'node_api.h'));
    if (process.platform !== 'linux' || cc.error !== undefined || !headers) return t.skip('no cc or headers');
    assert.deepEqual(nativeRelaySupport(), { available: true });
  });

  // A process of its own: the loader keeps its first answer for the process.
  const withoutAddon = (relay: string) =>
    spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import pino from 'pino';
         import { VipProxy } from './dist/src/vip/index.js';
         try {
           const p = new VipProxy({ resolve: async () => [], connectTimeoutMs: 1, idleTimeoutMs: 1,
             logger: pino({}, { write: (s) => process.stdout.write(s) }), relay: '${relay}' });
           process.stdout.write('relay ' + p.relayKind + '\\n');
         } catch (err) { process.stdout.write(err.code + ': ' + err.message + '\\n'); }`,
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, MESHDNS_RELAY_ADDON: '/nonexistent/relay.node' },
      },
    ).stdout;

  it('without the addon, auto relays with node:net and says why, once', () => {
    const out = withoutAddon('auto');
    assert.match(
      out,
      /"vipRelay":"node".*cannot load \/nonexistent\/relay\.node.*VIP proxy relays with node:net/,
    );
    assert.match(out, /^relay node$/m);
  });

  it('without the addon, native refuses with the fix', () => {
    assert.match(
      withoutAddon('native'),
      /^MESHDNS_VIP_RELAY: --vip-relay native: the native relay is not available: .*pass --vip-relay node/m,
    );
  });
});
