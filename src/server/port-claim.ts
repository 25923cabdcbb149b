// Who may share a DNS port (issue 14 item 3). With SO_REUSEPORT the kernel lets any process of the same
// user that sets the option bind a port already held, and splits the clients between them: a second
// meshdns started on the port by mistake would silently take part of the queries. So each listener that
// shares its port leaves a claim — its pid and key (what it serves: serve's state file, an agent's
// workload) — and a new one binds a port already in use only when a running meshdns of the same key
// claims it: its predecessor, about to hand over. Otherwise the port is refused, as without sharing.
//
// The claims live in a folder of this user's own (mode 0700, not a symlink): in a folder another user
// can write, a planted file or link could make meshdns overwrite a file of its choosing or hang on a
// FIFO, or a deleted claim could lock a successor out. Where that folder cannot be had, nothing is
// shared: a port in use is refused, and a successor cannot take this one over (`notShared` says why).
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, rmdir } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { isCheckedIPv6 } from '../dns/index.js';
import { MeshdnsError } from '../errors.js';
import { isRunning } from '../pid.js';

interface Claim {
  pid: number;
  key: string;
  /** Date.now() when written, then the pid and `n`: the order two claims made at once are judged in. */
  since: number;
  n: number;
}

/** A claim is a line of JSON; anything larger was not written by meshdns. */
const MAX_CLAIM_BYTES = 4096;

/** `$XDG_RUNTIME_DIR` (a per-user folder, where set) or the temporary folder, then `meshdns-<uid>`. */
function userFolder(uid: number): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  const root = runtime && isAbsolute(runtime) ? runtime : tmpdir();
  return join(root, `meshdns-${uid}`);
}

/** One folder per address and port, one file per claim (no process ever rewrites another's). */
export function claimFolder(host: string, port: number, uid = process.getuid?.() ?? 0): string {
  return join(userFolder(uid), `dns-${host.replaceAll(':', '_')}-${port}`);
}

/** Makes `path` if it is missing, then insists it is a real folder of this user's that no one else can use. */
async function ownFolder(path: string): Promise<void> {
  await mkdir(path, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  const st = await lstat(path);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory()) throw new Error(`${path} is not a folder`);
  if (st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new Error(
      `${path} is owned by uid ${st.uid} with mode ${(st.mode & 0o777).toString(8)}; it must be uid ${uid}'s, mode 0700`,
    );
  }
}

/** The claim folder of host:port, made and checked; throws saying why it cannot be used. */
async function claimsAt(host: string, port: number): Promise<string> {
  const folder = claimFolder(host, port);
  try {
    await mkdir(userFolder(process.getuid?.() ?? 0), { recursive: true, mode: 0o700 });
    await ownFolder(userFolder(process.getuid?.() ?? 0));
    await ownFolder(folder);
  } catch (err) {
    throw new Error(`no claim folder for the DNS port: ${(err as Error).message}`);
  }
  return folder;
}

/** Whether a socket without SO_REUSEPORT can bind host:port, UDP and TCP (then nobody holds it). */
async function portInUse(host: string, port: number): Promise<boolean> {
  const udp = createSocket(isCheckedIPv6(host) ? 'udp6' : 'udp4');
  const udpTaken = await new Promise<boolean>((resolve) => {
    udp.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE'));
    udp.bind({ address: host, port, exclusive: true }, () => resolve(false));
  });
  await new Promise<void>((resolve) => udp.close(() => resolve())).catch(() => undefined);
  if (udpTaken) return true;
  const tcp = net.createServer();
  const tcpTaken = await new Promise<boolean>((resolve) => {
    tcp.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE'));
    tcp.listen({ host, port, exclusive: true }, () => resolve(false));
  });
  if (tcp.listening) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  return tcpTaken;
}

/** One claim file, or undefined for anything that is not one (never a link, a FIFO or a large file). */
async function readClaim(file: string): Promise<Claim | undefined> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    () => undefined,
  );
  if (handle === undefined) return undefined;
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size > MAX_CLAIM_BYTES) return undefined;
    const c = JSON.parse(await handle.readFile('utf8')) as Claim;
    const ok = Number.isInteger(c.pid) && c.pid > 0 && typeof c.key === 'string';
    return ok ? { ...c, since: Number(c.since) || 0, n: Number(c.n) || 0 } : undefined;
  } catch {
    // Half-written, or removed meanwhile: not a claim.
    return undefined;
  } finally {
    await handle.close();
  }
}

/** The running processes that claim the port of `folder`; claims of processes gone are removed. */
async function claims(folder: string): Promise<Claim[]> {
  const names = await readdir(folder).catch(() => [] as string[]);
  const found: Claim[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const c = await readClaim(join(folder, name));
    if (c === undefined) continue;
    if (isRunning(c.pid)) found.push(c);
    // Left by a process killed before it could remove it.
    else await rm(join(folder, name), { force: true });
  }
  return found;
}

function describeKey(key: string): string {
  return key.replace(/^serve:/, 'state file ').replace(/^agent:/, 'workload ');
}

function inUse(host: string, port: number, key: string, by: string): MeshdnsError {
  return new MeshdnsError(
    'MESHDNS_LISTEN',
    `cannot listen on ${host}:${port}: the port is in use by ${by}. meshdns shares its DNS port only with ` +
      `the process it replaces, one serving the same ${describeKey(key)}; stop the other or pick another port`,
  );
}

const others = (held: Claim[]) =>
  `another meshdns (pid ${held.map((c) => `${c.pid}, ${c.key}`).join('; pid ')})`;

/**
 * Before binding host:port shared under `key`: resolves with the predecessor's pid when a running
 * meshdns of the same key holds the port, undefined when the port is free; throws MESHDNS_LISTEN when
 * anything else holds it.
 */
export async function admitShare(host: string, port: number, key: string): Promise<number | undefined> {
  if (!(await portInUse(host, port))) return undefined;
  let folder: string;
  try {
    folder = await claimsAt(host, port);
  } catch (err) {
    throw inUse(
      host,
      port,
      key,
      `another program, or a meshdns whose claim cannot be read (${(err as Error).message})`,
    );
  }
  const held = await claims(folder);
  const same = held.find((c) => c.key === key);
  if (same) return same.pid;
  throw inUse(host, port, key, held.length > 0 ? others(held) : 'another program');
}

/** Claims written by this process (two servers of one process may share a port: tests, workers). */
let written = 0;

/**
 * Marks host:port as held by this process under `key`, once it is bound; returns the claim's remover.
 * Two processes of different keys that found the port free at the same moment both bound it: the one
 * whose claim is the later backs out (its claim removed, MESHDNS_LISTEN thrown; the caller closes).
 * Throws a plain Error when no claim can be written (the port is then not shared).
 */
export async function writeClaim(host: string, port: number, key: string): Promise<() => Promise<void>> {
  const folder = await claimsAt(host, port);
  const mine: Claim = { pid: process.pid, key, since: Date.now(), n: ++written };
  const file = join(folder, `${mine.pid}-${mine.n}.json`);
  // Whole or not at all: a reader never sees half a claim; `wx` never follows a link left in the way.
  const temp = join(folder, `.${randomUUID()}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(JSON.stringify(mine));
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  const remove = async () => {
    await rm(file, { force: true });
    // The last claim of the port takes its folder along (another's claim keeps it: ENOTEMPTY).
    await rmdir(folder).catch(() => undefined);
  };
  const before = (a: Claim, b: Claim) =>
    a.since < b.since || (a.since === b.since && (a.pid < b.pid || (a.pid === b.pid && a.n < b.n)));
  const earlier = (await claims(folder)).filter((c) => c.key !== key && before(c, mine));
  if (earlier.length > 0) {
    await remove();
    throw inUse(host, port, key, others(earlier));
  }
  return remove;
}
