import { isIPv4 } from 'node:net';
import { isIPv6Text } from '../dns/index.js';
import { MeshdnsError } from '../errors.js';
import type { AdminOptions } from './server.js';

/** 127.0.0.0/8, ::1, and IPv4-mapped loopback (::ffff:127.x.y.z). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (isIPv4(h)) return h.startsWith('127.');
  if (!isIPv6Text(h)) return false;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  return h.startsWith('::ffff:127.');
}

/** SPEC §10: the admin API binds loopback unless allowed otherwise; checked before anything listens. */
export function checkAdminExposure(opts: AdminOptions): void {
  if (!opts.allowRemote && !isLoopback(opts.host)) {
    throw new MeshdnsError(
      'MESHDNS_ADMIN_REMOTE',
      `admin address ${opts.host} is not loopback: the admin API shows the whole name table and ` +
        'configuration; bind 127.0.0.1 or pass --admin-allow-remote',
    );
  }
}
