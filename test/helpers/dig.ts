// Runs the real `dig` and reads its output: status, header flags and the answer section.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DigResult {
  status: string;
  flags: string[];
  answers: DigRecord[];
  /** Bytes received, from dig's "MSG SIZE rcvd" line. */
  size: number;
  output: string;
}

export const DIG_MISSING = 'dig not installed: apt-get install bind9-dnsutils';

export async function haveDig(): Promise<boolean> {
  return run('dig', ['-v']).then(
    () => true,
    () => false,
  );
}

/** `dig @server -p port name type [extra...]`, one try, answers parsed. */
export async function dig(
  server: string,
  port: number,
  name: string,
  type = 'A',
  extra: string[] = [],
): Promise<DigResult> {
  const args = [`@${server}`, '-p', String(port), name, type, '+tries=1', '+time=8', '+nocookie', ...extra];
  const { stdout } = await run('dig', args, { timeout: 20_000 }).catch((err: { stdout?: string }) => {
    if (err.stdout) return { stdout: err.stdout };
    throw err;
  });
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? 'NONE';
  const flags = (/;; flags: ([a-z ]+);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
  const size = Number(/MSG SIZE\s+rcvd: (\d+)/.exec(stdout)?.[1] ?? 0);
  const section = /;; ANSWER SECTION:\n([\s\S]*?)(?:\n\n|$)/.exec(stdout)?.[1] ?? '';
  const answers = section
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith(';'))
    .map((l) => {
      const [owner, ttl, , rtype, ...data] = l.split(/\s+/);
      return { name: owner, ttl: Number(ttl), type: rtype, data: data.join(' ') };
    });
  return { status, flags, answers, size, output: stdout };
}
