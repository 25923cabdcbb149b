// checked.ts on first use. `require` keeps the callers synchronous (Node loads an ES module
// through it since 20.19); the path is relative to this code in dist/src/model/.
import { createRequire } from 'node:module';

type Checked = typeof import('./checked.js');

let loaded: Checked | undefined;

export function checked(): Checked {
  // In dist/bundle's CommonJS bundles `require` is the bundle's own: esbuild sees this call and puts
  // checked.js in the bundle, initialised on this first call. As ES modules (dist/src) there is none.
  loaded ??= (
    typeof require === 'function' ? require('./checked.js') : createRequire(import.meta.url)('./checked.js')
  ) as Checked;
  return loaded;
}

export const meshConfigFromText: Checked['meshConfigFromText'] = (...args) =>
  checked().meshConfigFromText(...args);

export const readMeshConfig: Checked['readMeshConfig'] = (...args) => checked().readMeshConfig(...args);
export const readProxyConfig: Checked['readProxyConfig'] = (...args) => checked().readProxyConfig(...args);
