// Loads the native TCP relay built by build.ts (relay.c), once. Where it is absent (no compiler at build
// time, another OS) or fails to load, the reason is kept so the VIP proxy can say why it relays with
// node:net.
import { fileURLToPath } from 'node:url';
import { requireAddon } from './addon.js';

/** The addon's file name, beside this module in dist/src/netio/. */
export const RELAY_ADDON_FILE = 'relay.node';

/** Points the loader at another file (a test names a missing one to see the fallback). */
export const RELAY_ADDON_PATH_ENV = 'MESHDNS_RELAY_ADDON';

/** The relay as the addon knows it: an opaque handle, closed by `destroy`. */
export type RelayHandle = { readonly __relay: unique symbol };

/** What the addon tells JavaScript (relay.c's EVENT_*). */
export const RELAY_EVENT = { accept: 1, connectFailed: 2 } as const;

/** relay.c's functions; their contracts are written beside each in the C source. */
export interface RelayBinding {
  create(
    connectTimeoutMs: number,
    idleTimeoutMs: number,
    onEvent: (
      kind: number,
      listener: number,
      conn: number,
      errno: number,
      target: string | undefined,
    ) => void,
  ): RelayHandle;
  /** A listener id, or -errno. */
  listen(h: RelayHandle, host: string, port: number, backlog: number): number;
  /** 0, or -EINVAL (not addresses, or more than maxTargets). */
  targets(h: RelayHandle, listener: number, hosts: string[], ports: number[]): number;
  /** 0: connecting; 1: the connection is gone; -EINVAL: not an address. */
  connect(h: RelayHandle, conn: number, host: string, port: number): number;
  refuse(h: RelayHandle, conn: number): void;
  /** active, total, bytesToBackend, bytesToClient, connectErrors. */
  stats(h: RelayHandle, listener: number, out: Float64Array): void;
  unlisten(h: RelayHandle, listener: number): void;
  destroy(h: RelayHandle): void;
  readonly maxTargets: number;
}

export type RelayAddonState =
  | { binding: RelayBinding; file: string }
  | { binding: undefined; reason: string };

let state: RelayAddonState | undefined;

export function relayAddonFile(): string {
  return (
    process.env[RELAY_ADDON_PATH_ENV] || fileURLToPath(new URL(`./${RELAY_ADDON_FILE}`, import.meta.url))
  );
}

/** The relay addon, or why there is none. Loaded on first use, then the same answer for the process. */
export function loadRelayAddon(): RelayAddonState {
  if (state !== undefined) return state;
  const file = relayAddonFile();
  if (process.platform !== 'linux') {
    state = { binding: undefined, reason: `splice(2) and epoll are Linux's; this is ${process.platform}` };
    return state;
  }
  state = requireAddon<RelayBinding>(file);
  return state;
}
