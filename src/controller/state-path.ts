// Where a manifests folder's VIP state file is by default. Apart from load.ts so that `serve` can
// name it before the controller's modules (the model, zod, yaml) are loaded, which only its worker needs.
import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DEFAULTS } from '../defaults.js';

/**
 * `<parent>/.meshdns/<name>.allocations.json` for the manifests folder `<parent>/<name>` (symlinks
 * resolved): beside the folder, so it is never a manifest, and one per folder, so two folders of one
 * parent never erase each other's VIPs.
 */
export function defaultStateFile(manifestsDir: string): string {
  let dir = resolve(manifestsDir);
  try {
    dir = realpathSync.native(dir);
  } catch {
    // A missing folder is reported by the source; the path is only a default.
  }
  const name = basename(dir) || 'root';
  return join(dirname(dir), DEFAULTS.stateDir, `${name}${DEFAULTS.stateFileSuffix}`);
}
