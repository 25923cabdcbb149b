import { MeshdnsError } from '../errors.js';

/** Splits host:port or [v6]:port, as the --xds-listen and --controller flags take it. */
export function listenAddress(value: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:[\]]+):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new MeshdnsError(
      'MESHDNS_XDS_LISTEN',
      `xDS address ${JSON.stringify(value)} is not host:port (IPv6 as [addr]:port, port 0-65535)`,
    );
  }
  return { host: m[1]!, port };
}
