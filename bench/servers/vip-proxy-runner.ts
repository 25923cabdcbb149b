// A VipProxy in a process of its own for the `vip` benchmark, until `meshdns serve --vip-proxy`
// starts it: one STATIC route from the command line, silent unless it fails, and a clean exit on
// SIGTERM (so `node --cpu-prof` writes its profile).
//
//   node dist/bench/servers/vip-proxy-runner.js 127.0.0.41:8080 127.0.0.43:80
import net from 'node:net';
import pino from 'pino';
import { VipProxy, type VipRoute } from '../../src/vip/index.js';
import { PROXY_TIMEOUTS } from './server.js';

const USAGE = 'usage: vip-proxy-runner LISTEN_IP:PORT BACKEND_IP:PORT (IPv4 loopback addresses)';

function hostPort(text: string | undefined): { host: string; port: number } {
  const m = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})$/.exec(text ?? '');
  const port = Number(m?.[2]);
  if (!m || net.isIPv4(m[1]) === false || port < 1 || port > 65535) throw new Error(`"${text}": ${USAGE}`);
  return { host: m[1], port };
}

async function main(): Promise<void> {
  const [listen, backend] = [hostPort(process.argv[2]), hostPort(process.argv[3])];
  const proxy = new VipProxy({
    // STATIC endpoints are addresses: nothing to resolve.
    resolve: async (name) => {
      throw new Error(`no resolver in the bench runner (asked for ${name})`);
    },
    ...PROXY_TIMEOUTS,
    // Errors only (a listener that cannot bind): warnings would be per connection, in the hot path.
    logger: pino({ level: 'error' }, pino.destination({ dest: 2, sync: true })),
  });
  const route: VipRoute = {
    vip: listen.host,
    port: listen.port,
    host: 'bench.vip.invalid',
    resolution: 'STATIC',
    endpoints: [{ address: backend.host, port: backend.port }],
    hostPort: backend.port,
    origin: 'bench vip-proxy-runner',
  };
  await proxy.setRoutes([route]);
  // setRoutes logs a listener that cannot bind and carries on; a runner without one is useless.
  if (proxy.stats().length !== 1) throw new Error(`not listening on ${listen.host}:${listen.port}`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => void proxy.close().then(() => process.exit(0)));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`vip-proxy-runner: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
