// Builds the native batch socket (netio.c) with the system C compiler against the Node-API headers of the
// Node that runs this script (<prefix>/include/node), at `npm ci` and `npm run build`. Nothing is
// downloaded. Where it cannot be built (no compiler, no headers, not Linux) the build still succeeds:
// this says why, once, and meshdns answers on node:dgram.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADDON_FILE } from './addon.js';
import { FSIO_ADDON_FILE } from './fsio-addon.js';
import { RELAY_ADDON_FILE } from './relay-addon.js';

export interface AddonBuild {
  /** The C source. */
  source: string;
  /** Where the addon goes. */
  out: string;
  /** The C compiler: $CC, else `cc`. */
  cc: string;
  /** The folder holding node_api.h and uv.h, or why there is none. */
  includeDir: string | { reason: string };
  /** The module's name for NAPI_MODULE (default: meshdns_netio). */
  name?: string;
}

export type BuildResult = { built: true; out: string; skipped: boolean } | { built: false; reason: string };

/**
 * Where the running Node's headers may be: `<prefix>/include/node` (release tarballs, distro packages,
 * the official images), or beside the binary the npm `node` package installs (its bin/node is a link
 * into node-<platform>-<arch>, which holds include/).
 */
export function headerCandidates(execPath = process.execPath): string[] {
  const prefix = path.resolve(path.dirname(execPath), '..');
  return [
    path.join(prefix, 'include', 'node'),
    path.join(prefix, 'node_modules', `node-${process.platform}-${process.arch}`, 'include', 'node'),
  ];
}

/** The version node_version.h in `dir` declares, e.g. "20.20.2"; undefined without one. */
function headerVersion(dir: string): string | undefined {
  const file = path.join(dir, 'node_version.h');
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  const part = (name: string) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(text)?.[1];
  return `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
}

/** The headers of exactly the running Node (its version in node_version.h), or why none were found. */
export function nodeIncludeDir(
  execPath = process.execPath,
  version = process.versions.node,
): string | { reason: string } {
  const found = headerCandidates(execPath).map((dir) => ({ dir, version: headerVersion(dir) }));
  const match = found.find((c) => c.version === version);
  if (match) return match.dir;
  const seen = found.map((c) => `${c.dir} (${c.version ?? 'none'})`).join(', ');
  return { reason: `no headers of Node ${version} at ${seen}` };
}

/** An addon of this checkout: src/netio/<source> to dist/src/netio/<file> (beside the compiled loader). */
function checkoutBuild(source: string, file: string, name?: string): AddonBuild {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return {
    source: path.resolve(here, '../../../src/netio', source),
    out: path.join(here, file),
    cc: process.env.CC || 'cc',
    includeDir: nodeIncludeDir(),
    ...(name ? { name } : {}),
  };
}

/** The UDP batch socket: src/netio/netio.c to dist/src/netio/netio.node. */
export function defaultBuild(): AddonBuild {
  return checkoutBuild('netio.c', ADDON_FILE);
}

/** The native TCP relay of the VIP proxy: src/netio/relay.c to dist/src/netio/relay.node. */
export function relayBuild(): AddonBuild {
  return checkoutBuild('relay.c', RELAY_ADDON_FILE, 'meshdns_relay');
}

/** The manifests source's batch file reader: src/netio/fsio.c to dist/src/netio/fsio.node. */
export function fsioBuild(): AddonBuild {
  return checkoutBuild('fsio.c', FSIO_ADDON_FILE, 'meshdns_fsio');
}

/** The compiler's arguments: position-independent, warnings as errors, only the module's init exported. */
export function compilerArgs(b: AddonBuild & { includeDir: string }, out: string): string[] {
  return [
    ...['-O2', '-fPIC', '-shared', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-fvisibility=hidden'],
    // Version 8 brings napi_add_async_cleanup_hook (Node >= 14.10, 12.19), so a worker's exit closes the socket.
    ...['-DNAPI_VERSION=8', `-DNODE_GYP_MODULE_NAME=${b.name ?? 'meshdns_netio'}`, `-I${b.includeDir}`],
    ...[b.source, '-o', out],
  ];
}

/** The header both addons include beside their sources (the stamp covers it too). */
const COMMON_HEADER = 'common.h';

/** What the stamp beside the addon records: rebuilt when the source, the Node or the compiler change. */
function stampOf(b: AddonBuild): string {
  const header = path.join(path.dirname(b.source), COMMON_HEADER);
  const hash = createHash('sha256').update(readFileSync(b.source));
  if (existsSync(header)) hash.update(readFileSync(header));
  const source = hash.digest('hex');
  return JSON.stringify({ source, node: process.version, includeDir: b.includeDir, cc: b.cc });
}

export function buildAddon(b: AddonBuild): BuildResult {
  if (process.platform !== 'linux')
    return {
      built: false,
      reason: `the native addons are Linux's (recvmmsg, splice); this is ${process.platform}`,
    };
  if (typeof b.includeDir !== 'string') return { built: false, reason: b.includeDir.reason };
  const header = path.join(b.includeDir, 'node_api.h');
  if (!existsSync(header)) return { built: false, reason: `no Node-API headers at ${header}` };
  const stampFile = `${b.out}.stamp`;
  const stamp = stampOf(b);
  if (existsSync(b.out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    return { built: true, out: b.out, skipped: true };
  }
  mkdirSync(path.dirname(b.out), { recursive: true });
  // Built aside and renamed: a process loading the addon meanwhile sees the old file or the new, whole.
  const tmp = `${b.out}.${process.pid}.tmp`;
  const run = spawnSync(b.cc, compilerArgs({ ...b, includeDir: b.includeDir }, tmp), { encoding: 'utf8' });
  if (run.error !== undefined || run.status !== 0) {
    rmSync(tmp, { force: true });
    const why =
      run.error?.message ?? (run.stderr.trim().split('\n').slice(0, 5).join('\n') || `exit ${run.status}`);
    return { built: false, reason: `${b.cc} failed: ${why}` };
  }
  renameSync(tmp, b.out);
  writeFileSync(stampFile, stamp);
  return { built: true, out: b.out, skipped: false };
}

/** Builds one addon, or says once why not (and what meshdns uses instead); never fails the build. */
function buildOne(b: AddonBuild, what: string, instead: string): void {
  const result = buildAddon(b);
  if (!result.built) {
    // A stale addon of an older source or another Node must not load in its place.
    rmSync(b.out, { force: true });
    rmSync(`${b.out}.stamp`, { force: true });
    console.warn(`meshdns: ${what} not built (${result.reason}); ${instead}`);
  } else if (!result.skipped) {
    console.log(
      `meshdns: ${what} built for Node ${process.version} (${path.relative(process.cwd(), result.out)})`,
    );
  }
}

/** `node dist/src/netio/build.js`: the UDP batch socket, the TCP relay and the batch file reader. */
function main(): void {
  buildOne(defaultBuild(), 'native UDP batch I/O', 'meshdns will answer UDP on node:dgram');
  buildOne(relayBuild(), 'native VIP relay (splice)', 'the VIP proxy will relay with node:net');
  buildOne(fsioBuild(), 'native batch file reader', 'manifests will be read with node:fs');
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
