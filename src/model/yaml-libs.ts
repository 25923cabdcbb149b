// The YAML parsers behind the line reader (lineyaml.ts), loaded the first time a text needs them:
// manifests as tools write them never do, and loading both costs the controller's thread tens of
// milliseconds before it reads its first file. They are CommonJS as well, so `require` loads them
// synchronously where they are needed, and the callers stay synchronous.
import { createRequire } from 'node:module';

type JsYaml = typeof import('js-yaml');
type Yaml = typeof import('yaml');

const require = createRequire(import.meta.url);
let jsYaml: JsYaml | undefined;
let yaml: Yaml | undefined;

/** js-yaml 4: the fast path for what the line reader leaves (fastyaml.ts). */
export function jsYamlLib(): JsYaml {
  jsYaml ??= require('js-yaml') as JsYaml;
  return jsYaml;
}

/** `yaml`: the reference, with line and column in its errors. */
export function yamlLib(): Yaml {
  yaml ??= require('yaml') as Yaml;
  return yaml;
}
