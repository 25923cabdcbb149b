// The CLI's client of an agent's admin API. node:http rather than fetch: fetch refuses the ports the
// fetch standard blocks (6000, 6665-6669, 10080, …) before connecting, and an admin API may listen on one.
import http from 'node:http';
import { MeshdnsError } from '../errors.js';
import { parseListen } from './flags.js';

export interface AdminReply {
  status: number;
  body: unknown;
}

function unreachable(admin: string, why: string): MeshdnsError {
  return new MeshdnsError(
    'MESHDNS_NO_ANSWER',
    `cannot reach the admin API at ${admin} (${why}); is meshdns serving there? (--admin ADDR:PORT)`,
  );
}

/** GET `path` from the admin API at `admin` ("ADDR:PORT") and parse the JSON reply. */
export function adminGet(admin: string, path: string, timeoutMs: number): Promise<AdminReply> {
  const { host, port } = parseListen('--admin', admin);
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => reject(unreachable(admin, err.message)));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        try {
          resolve({ status, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch {
          reject(unreachable(admin, `HTTP ${status} without a JSON body: not a meshdns admin API?`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no reply within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(unreachable(admin, err.code ?? err.message)));
  });
}
