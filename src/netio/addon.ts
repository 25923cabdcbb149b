// Loads the native batch socket built by build.ts, once. Where it is absent (no compiler at build time,
// another OS) or fails to load, the reason is kept so the UDP listener can say why it uses node:dgram.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's file name, beside this module in dist/src/netio/. */
export const ADDON_FILE = 'netio.node';

/**
 * Points the loader at another file (a test names a missing one to see the fallback). Not a flag: the
 * flag `--udp-io dgram` is how a user chooses; this stands for "the addon is not there".
 */
export const ADDON_PATH_ENV = 'MESHDNS_NETIO_ADDON';

/** The socket as the addon knows it: an opaque handle, closed by `close`. */
export type NetioHandle = { readonly __netio: unique symbol };

/** A store of answer templates in C memory (netio.c "hit path"), freed with its last reference. */
export type TemplateStoreHandle = { readonly __templates: unique symbol };

/** netio.c's functions; their contracts are written beside each in the C source. */
export interface NetioBinding {
  open(
    host: string,
    port: number,
    rcvbuf: number,
    sndbuf: number,
    reusePort: boolean,
    onEvent: (events: number, pending: number, adopt: number) => void,
  ): [NetioHandle, number];
  recv(h: NetioHandle, data: Buffer, slot: number, lens: Int32Array, addrs: Buffer, max: number): number;
  send(
    h: NetioHandle,
    data: Buffer,
    offs: Int32Array,
    lens: Int32Array,
    addrs: Buffer,
    from: number,
    to: number,
  ): number;
  watch(h: NetioHandle, writable: boolean): void;
  info(h: NetioHandle): [rcvbuf: number, sndbuf: number, sendErrors: number];
  close(h: NetioHandle): void;
  leave(h: NetioHandle): void;
  /** The socket's one peer (an upstream server): sends may then leave the address out. */
  connect(h: NetioHandle, host: string, port: number): void;
  tcpSocket(host: string, port: number, reusePort: boolean): number;
  templates(sets: number, ways: number): TemplateStoreHandle;
  put(
    store: TemplateStoreHandle,
    slot: number,
    name: Uint8Array,
    body: Uint8Array,
    ttlOffsets: Int32Array,
    ttls: Int32Array,
    numbers: Int32Array,
    storedAt: number,
    validUntil: number,
  ): void;
  drop(store: TemplateStoreHandle, slot: number): void;
  answer(
    store: TemplateStoreHandle,
    data: Buffer,
    slot: number,
    lens: Int32Array,
    addrs: Buffer,
    count: number,
    outData: Buffer,
    outOffs: Int32Array,
    outLens: Int32Array,
    outAddrs: Buffer,
    state: Int32Array,
    hits: Int32Array,
    tableGen: number,
    cacheGen: number,
    now: number,
  ): number;
  /** Arms the wakes answered in C (netio.c `fast`); absent from an addon built before it. */
  fast?(
    h: NetioHandle,
    store: TemplateStoreHandle,
    data: Buffer,
    slot: number,
    lens: Int32Array,
    addrs: Buffer,
    max: number,
    outData: Buffer,
    outOffs: Int32Array,
    outLens: Int32Array,
    outAddrs: Buffer,
    outMessages: number,
    outBytes: number,
    tableGeneration: Int32Array,
    control: Int32Array,
    counts: Float64Array,
    deferred: Int32Array,
  ): void;
  readonly maxBatch: number;
  readonly addrStride: number;
}

export type AddonState = { binding: NetioBinding; file: string } | { binding: undefined; reason: string };

let state: AddonState | undefined;

export function addonFile(): string {
  return process.env[ADDON_PATH_ENV] || fileURLToPath(new URL(`./${ADDON_FILE}`, import.meta.url));
}

/** A native addon built at `npm ci`, or why it cannot be loaded (the netio and relay addons alike). */
export function requireAddon<T>(
  file: string,
): { binding: T; file: string } | { binding: undefined; reason: string } {
  try {
    return { binding: createRequire(import.meta.url)(file) as T, file };
  } catch (err) {
    const first = ((err as Error).message ?? String(err)).split('\n')[0];
    const reason = `cannot load ${file} (${first}); it is built at npm ci / npm run build where cc and Node's headers are`;
    return { binding: undefined, reason };
  }
}

/** The addon, or why there is none. Loaded on first use, then the same answer for the process. */
export function loadAddon(): AddonState {
  state ??= requireAddon<NetioBinding>(addonFile());
  return state;
}
