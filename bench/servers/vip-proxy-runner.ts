// A VIP data plane in a process of its own for the `vip` benchmark: one STATIC route from the command
// line, silent unless it fails, and a clean exit on SIGTERM (so `node --cpu-prof` writes its profile,
// and the NAT data plane removes its rules). `--nat`: the kernel DNATs (needs NET_ADMIN), else the
// user-space VipProxy on its default relay, or the one `--relay` names.
//
//   node dist/bench/servers/vip-proxy-runner.js 127.0.0.41:8080 127.0.0.43:80 [--nat] [--relay native|node]
import net from 'node:net';
import pino from 'pino';
import { NatDataplane, type VipDataplane, VipProxy, type VipRoute } from '../../src/vip/index.js';
import { PROXY_TIMEOUTS } from './server.js';

const USAGE =
  'usage: vip-proxy-runner LISTEN_IP:PORT BACKEND_IP:PORT [--nat] [--relay native|node] (IPv4 loopback addresses)';

/** The flags after the two addresses. */
function flags(rest: string[]): { nat: boolean; relay?: 'native' | 'node' } {
  const out: { nat: boolean; relay?: 'native' | 'node' } = { nat: false };
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--nat') out.nat = true;
    else if (rest[i] === '--relay' && (rest[i + 1] === 'native' || rest[i + 1] === 'node')) {
      out.relay = rest[i + 1] as 'native' | 'node';
      i++;
    } else throw new Error(USAGE);
  }
  return out;
}

function hostPort(text: string | undefined): { host: string; port: number } {
  const m = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})$/.exec(text ?? '');
  const port = Number(m?.[2]);
  if (!m || net.isIPv4(m[1]) === false || port < 1 || port > 65535) throw new Error(`"${text}": ${USAGE}`);
  return { host: m[1], port };
}

async function main(): Promise<void> {
  const [listen, backend] = [hostPort(process.argv[2]), hostPort(process.argv[3])];
  const { nat, relay } = flags(process.argv.slice(4));
  const logger = pino({ level: 'error' }, pino.destination({ dest: 2, sync: true }));
  const proxy = new VipProxy({
    // STATIC endpoints are addresses: nothing to resolve.
    resolve: async (name) => {
      throw new Error(`no resolver in the bench runner (asked for ${name})`);
    },
    ...PROXY_TIMEOUTS,
    // Errors only (a listener that cannot bind): warnings would be per connection, in the hot path.
    logger,
    ...(relay ? { relay } : {}),
  });
  const plane: VipDataplane = nat
    ? new NatDataplane({
        // STATIC endpoints are addresses: nothing to resolve, nothing expires.
        lookup: async (name) => ({ addresses: [name], ttlMs: Number.POSITIVE_INFINITY }),
        fallback: proxy,
        logger,
      })
    : proxy;
  const route: VipRoute = {
    vip: listen.host,
    port: listen.port,
    host: 'bench.vip.invalid',
    resolution: 'STATIC',
    endpoints: [{ address: backend.host, port: backend.port }],
    hostPort: backend.port,
    origin: 'bench vip-proxy-runner',
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => void plane.close().then(() => process.exit(0)));
  }
  await plane.setRoutes([route]);
  // setRoutes logs a listener that cannot bind and carries on; a runner without one is useless.
  if (plane.served().length !== 1) throw new Error(`not serving ${listen.host}:${listen.port}`);
  // The rules hold nothing open in this process: it stays until SIGTERM, which removes them.
  if (nat) setInterval(() => {}, 2 ** 30);
}

main().catch((err: unknown) => {
  process.stderr.write(`vip-proxy-runner: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
