// What `npm run fuzz` fuzzes: `meshdns serve` on examples/, or `meshdns agent` fed examples/ by a
// `meshdns controller` over xDS (issue 11 item 1: the agent is the process that runs in every pod).
// Each is started as the CLI, its upstream a port nobody answers, and is ready once the good name
// answers from the table.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const READY_DEADLINE_MS = 30_000;

export const TARGET_NAMES = ['serve', 'agent'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** A Service of examples/ and its cluster IP. */
export const GOOD = { name: 'productpage.default.svc.cluster.local', address: '10.96.0.10' };

export interface FuzzTarget {
  port: number;
  /** "exited CODE" once the DNS process (or, for the agent, its controller) has exited. */
  exit(): string | undefined;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Proc {
  child: ChildProcess;
  exit: string | undefined;
}

function cli(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [`${ROOT}bin/meshdns`, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const proc: Proc = { child, exit: undefined };
  child.on('exit', (code, signal) => {
    proc.exit = `${args[0]} exited ${code ?? signal}`;
  });
  return proc;
}

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exit !== undefined) return resolve();
          p.child.once('exit', () => resolve());
          p.child.kill('SIGTERM');
        }),
    ),
  );
}

/** True once `GOOD.name` is answered with its address over UDP. */
async function answersGood(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  const query = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: GOOD.name }] });
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 250);
      socket.on('error', () => resolve(false));
      socket.on('message', (reply) => {
        clearTimeout(timer);
        const answers = dnsPacket.decode(reply).answers ?? [];
        resolve(answers.some((a) => a.type === 'A' && a.data === GOOD.address));
      });
      socket.send(query, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

async function ready(port: number, procs: Proc[]): Promise<void> {
  const deadline = Date.now() + READY_DEADLINE_MS;
  while (Date.now() < deadline) {
    const gone = procs.find((p) => p.exit !== undefined);
    if (gone) throw new Error(`${gone.exit} before answering ${GOOD.name}`);
    if (await answersGood(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stopAll(procs);
  throw new Error(`${GOOD.name} not answered within ${READY_DEADLINE_MS} ms`);
}

const DNS_FLAGS = ['--upstream', '127.0.0.1:9', '--upstream-timeout', '200', '--admin-listen', '127.0.0.1:0'];

export async function startTarget(name: TargetName, stateFile: string): Promise<FuzzTarget> {
  const port = await freePort();
  const listen = ['--dns-listen', `127.0.0.1:${port}`];
  const procs: Proc[] = [];
  if (name === 'serve') {
    procs.push(cli(['serve', '--manifests', 'examples', ...DNS_FLAGS, ...listen, '--state-file', stateFile]));
  } else {
    const xds = await freePort();
    procs.push(
      cli([
        ...['controller', '--manifests', 'examples', '--xds-listen', `127.0.0.1:${xds}`],
        ...['--admin-listen', '127.0.0.1:0', '--state-file', stateFile],
      ]),
    );
    // The workload's identity and its DNS capture switch, as Istio's injector hands them to the sidecar.
    const env = { POD_NAME: 'fuzz', POD_NAMESPACE: 'default', ISTIO_META_DNS_CAPTURE: 'true' };
    procs.push(cli(['agent', '--controller', `127.0.0.1:${xds}`, ...DNS_FLAGS, ...listen], env));
  }
  await ready(port, procs);
  return {
    port,
    exit: () => procs.find((p) => p.exit !== undefined)?.exit,
    stop: () => stopAll(procs),
  };
}
