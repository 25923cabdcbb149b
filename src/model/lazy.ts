// checked.ts on first use. `require` keeps the callers synchronous (Node loads an ES module
// through it since 20.19); the path is relative to this code, which is dist/src/model/ or, bundled,
// dist/bundle/, where scripts/bundle.mjs puts checked.js as an entry of its own.
import { createRequire } from 'node:module';

type Checked = typeof import('./checked.js');

const require = createRequire(import.meta.url);
let loaded: Checked | undefined;

export function checked(): Checked {
  loaded ??= require('./checked.js') as Checked;
  return loaded;
}

export const meshConfigFromText: Checked['meshConfigFromText'] = (...args) =>
  checked().meshConfigFromText(...args);

export const readMeshConfig: Checked['readMeshConfig'] = (...args) => checked().readMeshConfig(...args);
export const readProxyConfig: Checked['readProxyConfig'] = (...args) => checked().readProxyConfig(...args);
