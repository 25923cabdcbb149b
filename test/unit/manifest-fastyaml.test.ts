// The js-yaml fast path against `yaml`, the reference: wherever the fast path gives values they must
// be deep-equal to what `yaml` gives (YAML 1.2 core schema, `toJS`), and the constructs where the two
// differ must go to the `yaml` path.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { fastYamlDocuments, formatError, parseManifestText } from '../../src/model/index.js';
// The line reader has no export of its own: fastYamlDocuments tries it first.
import { lineYamlDocuments } from '../../src/model/lineyaml.js';

// dist/test/unit → the checkout.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const NOT_READ = 'not read: a syntax error or an alias bound';

/** What today's `yaml` path gives for each document (src/model/manifest.ts). */
function viaYaml(text: string): unknown[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) return NOT_READ;
    try {
      return doc.toJS({ maxAliasCount: 100 });
    } catch {
      return NOT_READ;
    }
  });
}

function manifestFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return manifestFiles(path);
    return /\.ya?ml$/.test(e.name) ? [path] : [];
  });
}

// Valid YAML that must take the fast path and read exactly as `yaml` reads it.
const SAME: { name: string; text: string }[] = [
  {
    name: 'booleans',
    text: 'a: true\nb: True\nc: TRUE\nd: false\ne: False\nf: FALSE\ng: yes\nh: on\ni: y\nj: tRUE\n',
  },
  { name: 'null and ~', text: 'a: null\nb: Null\nc: NULL\nd: ~\ne:\nf: nULL\ng: [null, ~]\n' },
  {
    name: 'integers: decimal, octal 0o, hex, and what is not an integer in YAML 1.2',
    text: 'a: 0\nb: -12\nc: +12\nd: 0o17\ne: 0x1F\nf: 017\ng: 0b11\nh: 1_000\ni: 0o8\nj: 0X1F\nk: -0x1\nl: 12345678901234567890\nm: -0\nn: 0x\no: 0o\n',
  },
  {
    name: 'floats, .inf and .nan',
    text: 'a: 1.5\nb: .5\nc: 1.\nd: 1e3\ne: 1E3\nf: 1e+3\ng: -1e-3\nh: +.5\ni: .inf\nj: -.Inf\nk: +.INF\nl: .nan\nm: .NaN\nn: .NAN\no: .Nan\np: 1e-400\nq: -0.0\nr: 6.8523015e+5\ns: 1.2.3\nt: Infinity\n',
  },
  {
    name: 'strings that YAML 1.1 would read as other types (no timestamps, no merge)',
    text: 'a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 1:20\nd: 190:20:30\ne: 1,000\nf: =\ng: <<\nh: 10%\ni: NaN\nj: "true"\nk: \'1\'\n',
  },
  { name: 'a `<<` key is a plain key', text: '<<: {a: 1}\nb: 2\n' },
  {
    name: 'keys: quoted numbers, prototype names, empty',
    text: '"1": a\n"true": b\n__proto__: c\nconstructor: d\ntoString: e\n"": f\nhasOwnProperty: g\n',
  },
  { name: 'an empty text', text: '' },
  { name: 'blank lines only', text: '\n\n' },
  { name: 'a comment only', text: '# only a comment\n' },
  { name: 'one empty document', text: '---' },
  { name: 'two empty documents', text: '---\n---\n' },
  { name: 'a trailing ---', text: 'a: 1\n---\n' },
  { name: 'an empty document between two', text: 'a: 1\n---\n---\nb: 2\n' },
  { name: 'a comment after ---', text: '--- # c\na: 1\n' },
  { name: 'a scalar document', text: '--- a\n' },
  { name: 'a comment-only document', text: '---\n# c\n' },
  { name: 'comments everywhere', text: '# head\na: b # c\n# d\nc: "x" # e\nd: b#c\ne: a:b\n# tail' },
  {
    name: 'flow style',
    text: 'a: {b: 1, c: [1, 2, {d: e}]}\nf: [a, b, ]\ng: {}\nh: []\ni: {b, c: }\nj: {"k": \'v\'}\n',
  },
  { name: 'a flow mapping over lines', text: '{a: 1,\n b: 2}' },
  { name: 'a flow sequence over lines', text: '[\n1,\n2\n]' },
  { name: 'nested sequences', text: '- [a, {b: c}]\n- {d: [e]}\n- - x\n  - y\n-\n- z: 1\n  w: 2\n' },
  {
    name: 'block scalars: literal, folded, chomping',
    text: 'a: |\n  x\n  y\nb: |-\n  x\n\nc: >\n  x\n  y\n\n  z\nd: >-\n  folded\n   more\n  back\ne: |\nf: >\n\n\ng: x\n',
  },
  { name: 'a block scalar at the end without a newline', text: 'a: |\n  x' },
  { name: 'a block scalar document', text: '--- |\n  x\n' },
  {
    name: 'multi-line plain, single- and double-quoted strings',
    text: "a: plain\n  multi\n  line\n\n  para\nb: 'it''s\n  two\n\n  three'\nc: \"line\n  two\n\n  three\\n end\"\n",
  },
  {
    name: 'double-quoted escapes',
    text: 'a: "\\x41\\u00e9\\U0001F600\\N\\_\\L\\P\\0\\a\\e\\ \\/\\t\\"\\\\"\n',
  },
  { name: 'CRLF line breaks', text: 'a: 1\r\nb: |\r\n  x\r\n  y\r\nc: "x\r\n  y"\r\n' },
  { name: 'unicode', text: 'ü: ü\nsmile: 😀\nnbsp: \u00a0x\nline: \u2028x\n' },
  {
    name: 'a kubectl List',
    text: 'apiVersion: v1\nkind: List\nitems:\n- kind: Service\n  metadata: {name: a}\n- kind: Service\n  metadata:\n    name: b\n',
  },
  {
    name: 'a ServiceEntry with a ProxyConfig annotation',
    text: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: db\n  annotations:\n    proxy.istio.io/config: |\n      proxyMetadata:\n        ISTIO_META_DNS_CAPTURE: "true"\nspec:\n  hosts: [db.example.com]\n  ports:\n  - number: 3306\n    name: tcp\n  resolution: DNS\n',
  },
];

// Where js-yaml and `yaml` read a text differently, or only `yaml` gives today's guarantees.
const ROUTED: { name: string; text: string }[] = [
  { name: 'a float too big for a double (yaml: Infinity)', text: 'a: 1e400\n' },
  { name: 'an integer too big for a double', text: `a: ${'9'.repeat(400)}\n` },
  { name: 'a hex integer too big for a double', text: `a: 0x${'F'.repeat(300)}\n` },
  { name: 'an empty key (yaml: "", js-yaml: "null")', text: '? \n: v\n' },
  { name: 'a null key', text: 'null: d\n' },
  { name: 'a ~ key', text: '~: e\n' },
  { name: 'an integer key', text: '1: a\n' },
  { name: 'a boolean key', text: 'true: c\n' },
  { name: 'a collection as key', text: '? [a, b]\n: c\n' },
  { name: 'an explicit !!float tag (yaml keeps "1" a string)', text: 'a: !!float 1\n' },
  { name: 'an explicit !!str tag', text: 'a: !!str 1\n' },
  { name: 'a custom tag', text: 'a: !foo bar\n' },
  { name: '!!binary', text: 'a: !!binary aGk=\n' },
  { name: '!!timestamp', text: 'a: !!timestamp 2001-12-14\n' },
  { name: '!!set', text: 'a: !!set {x}\n' },
  { name: 'an anchor', text: 'a: &x 1\n' },
  { name: 'an alias', text: 'a: &x 1\nb: *x\n' },
  { name: 'an alias as key', text: '&a a: b\n*a : c\n' },
  { name: 'a %YAML 1.1 directive (yaml: yes is true)', text: '%YAML 1.1\n---\na: yes\n' },
  { name: 'a %TAG directive', text: '%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n' },
  { name: 'an unknown directive', text: '%FOO bar\n---\na: 1\n' },
  { name: 'an indented % (yaml: a syntax error)', text: ' %Y :.2\n---\na:\n' },
  { name: 'a document end before any document (yaml: an empty document)', text: '...\n' },
  { name: 'two document ends (yaml: an empty document)', text: 'a: 1\n...\n...\n' },
  { name: 'a BOM', text: '\uFEFFa: 1\n' },
  { name: 'a BOM before a sequence (yaml: a syntax error)', text: '\uFEFF- a9 1\n' },
  { name: 'a BOM before ---', text: 'a: 1\n\uFEFF---\nb: 2\n' },
  { name: 'a tab before content (yaml: a syntax error)', text: '\t--\n' },
  { name: 'tab indentation', text: 'a:\n\tb: 1\n' },
  { name: 'a lone CR as line break (yaml: a syntax error)', text: 'a: b\rc: d\n' },
  { name: 'an escaped line break before an empty line', text: 'a: "a\\\n \n b"\n' },
  { name: 'an indented --- (yaml: a plain scalar)', text: ' --- |\n  x\n' },
  { name: 'a block indentation indicator', text: '|2\n   x\n  y\n' },
  { name: 'a block indentation indicator and a blank last line', text: 'a: |2\n    ' },
  { name: 'keep chomping and a blank last line', text: 'a: |+\n  \n ' },
  { name: 'an implicit key over 1024 characters', text: `${'k'.repeat(1100)}: v\n` },
  { name: 'an implicit key with 1100 spaces before its colon', text: `k${' '.repeat(1100)}: v\n` },
  // js-yaml 4 accepts these; `yaml` refuses them or reads them otherwise (found by the fuzzer below).
  { name: "a quoted string continued at its key's indentation", text: 'a: "x\ny"\n' },
  { name: "a quoted string continued at its mapping's indentation", text: '- a: "x\n  y"\n' },
  { name: "a flow mapping continued at its key's indentation", text: 'a: {b: 1,\nc: 2}\n' },
  { name: "a flow sequence continued at its entry's indentation", text: '- [\n1\n]\n' },
  { name: 'a collection as a flow key without a value', text: '{ [e]}\n' },
  { name: 'a marker glued to content', text: '---a\n' },
  { name: 'a mapping on the marker line', text: '--- a: 1\n' },
  { name: 'a sequence on the marker line', text: '--- - a\n' },
  { name: 'an empty entry of an inner sequence', text: '- - x\n  -\n-\n' },
  { name: 'a line of spaces in a block scalar', text: '--- |\n  \n#\n' },
  { name: 'a comment right after a quote', text: 'a: "x"# c\n' },
  { name: 'an escape beyond the last code point', text: 'a: "\\U01e9F600"\n' },
  { name: 'a collection as a flow key on its own line', text: '{\n[e]}\n' },
  { name: 'an empty entry of an inner sequence with a comment', text: '- - # c\n-\n' },
  { name: 'an indented empty entry with a comment', text: '  - # c\n- \n' },
  { name: 'a document block scalar before a comment line', text: ' | \n#.\n' },
  { name: 'a syntax error', text: 'a: b: c\n' },
  { name: 'a duplicate key', text: 'a: 1\na: 2\n' },
];

describe('YAML fast path', () => {
  for (const c of SAME) {
    it(`reads as yaml does: ${c.name}`, () => {
      const values = fastYamlDocuments(c.text);
      assert.ok(values, 'takes the fast path');
      assert.deepEqual(values, viaYaml(c.text));
    });
  }

  for (const c of ROUTED) {
    it(`leaves to yaml: ${c.name}`, () => {
      assert.equal(fastYamlDocuments(c.text), undefined);
    });
  }

  it('reads every example and test fixture as yaml does', () => {
    const files = [...manifestFiles(join(ROOT, 'examples')), ...manifestFiles(join(ROOT, 'test/fixtures'))];
    assert.ok(files.length >= 6);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const want = viaYaml(text);
      const values = fastYamlDocuments(text);
      if (file.startsWith(join(ROOT, 'examples'))) assert.ok(values, `${file} takes the fast path`);
      if (values) assert.deepEqual(values, want, file);
      else assert.ok(want.includes(NOT_READ) || !file.startsWith(join(ROOT, 'examples')), file);
    }
  });

  it('agrees with yaml on mutated manifests (seeded)', () => {
    const fast = mutants(2000, 8, (text) => {
      const values = fastYamlDocuments(text);
      if (values) assert.deepEqual(values, viaYaml(text), JSON.stringify(text));
      return values !== undefined;
    });
    assert.ok(fast > 400, `${fast} mutants took the fast path`);
  });
});

// The seeds of the mutation tests: the cases above, the examples, and the block style tools write.
const TOOL_STYLE = [
  'apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: ns-1\n  labels:\n    app: a\n  annotations: {}\nspec:\n  type: ClusterIP\n  clusterIP: 10.0.0.1\n  clusterIPs: [10.0.0.1]\n  ports:\n    - name: http\n      port: 80\n      protocol: TCP\n      targetPort: 8080\n',
  'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: db # the database\n  creationTimestamp: "2024-01-01T00:00:00Z"\nspec:\n  hosts:\n  - db.example.com\n  - \'db2.example.com\'\n  exportTo: ["*"]\n  ports:\n  - number: 3306\n    name: tcp\n    protocol: TCP\n  resolution: DNS\n  endpoints:\n  -   address: 10.1.0.1\n      ports: {}\n---\n# next\nkind: List\nitems: []\n',
  '  a:\n    - x: 1\n      y: -2\n    -\n    - "q" # c\n  b: [1, .5, ~, "x y", \'it\'\'s\']\n  c:\n  d: -x\n',
];

/** Mutants of the seeds (seeded, the same on every run): `check` returns whether the text was read. */
function mutants(count: number, seed: number, check: (text: string) => boolean): number {
  const seeds = [
    ...SAME.map((c) => c.text),
    ...TOOL_STYLE,
    ...manifestFiles(join(ROOT, 'examples')).map((f) => readFileSync(f, 'utf8')),
  ];
  const pieces = [
    ' ',
    '\n',
    '\n  ',
    '- ',
    ':',
    ': ',
    '#',
    "'",
    '"',
    '[',
    ']',
    '{',
    '}',
    ',',
    '|',
    '>',
    '?',
    '.',
    '...',
    '---',
    '0',
    '1e9',
    '\t',
    '!',
    '&',
    '*',
    '%',
    '\r',
    '\\',
    '~',
    '0x',
    '.inf',
    'null',
    'True',
    '<<',
    '\uFEFF',
  ];
  // mulberry32: the same mutants on every run.
  let state = seed;
  const random = (n: number) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  let read = 0;
  for (let i = 0; i < count; i++) {
    let text = seeds[random(seeds.length)]!;
    for (let edits = 1 + random(3); edits > 0; edits--) {
      const at = random(text.length + 1);
      const cut = random(3);
      text = text.slice(0, at) + (random(2) ? pieces[random(pieces.length)] : '') + text.slice(at + cut);
    }
    if (check(text)) read++;
  }
  return read;
}

describe('YAML line path (the block subset, read first)', () => {
  for (const c of SAME) {
    it(`reads as yaml does, or leaves it: ${c.name}`, () => {
      const values = lineYamlDocuments(c.text);
      if (values) assert.deepEqual(values, viaYaml(c.text));
    });
  }

  for (const c of ROUTED) {
    it(`leaves to the other paths: ${c.name}`, () => {
      assert.equal(lineYamlDocuments(c.text), undefined);
    });
  }

  it('reads the tool-style manifests and the examples', () => {
    const texts = [
      ...TOOL_STYLE,
      ...manifestFiles(join(ROOT, 'examples'))
        .map((f) => readFileSync(f, 'utf8'))
        // Block scalars (a ProxyConfig annotation) are the js-yaml path's.
        .filter((t) => !/[|>]\n/.test(t)),
    ];
    assert.ok(texts.length >= 6);
    for (const text of texts) {
      const values = lineYamlDocuments(text);
      assert.ok(values, `takes the line path: ${JSON.stringify(text.slice(0, 60))}`);
      assert.deepEqual(values, viaYaml(text));
    }
  });

  it('agrees with yaml on mutated manifests (seeded)', () => {
    const read = mutants(6000, 21, (text) => {
      const values = lineYamlDocuments(text);
      if (values) assert.deepEqual(values, viaYaml(text), JSON.stringify(text));
      return values !== undefined;
    });
    assert.ok(read > 1000, `${read} mutants took the line path`);
  });
});

describe('manifests through the fast path', () => {
  const svc = (name: string, ip: string) =>
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec:\n  clusterIP: ${ip}\n`;
  const load = (text: string) => {
    const { resources, errors } = parseManifestText('m/x.yaml', text);
    return { sources: resources.map((r) => r.source), errors: errors.map(formatError) };
  };

  it('a billion-laughs document is refused with the alias error; the other documents load', () => {
    const levels = Array.from(
      { length: 12 },
      (_, i) => `b${i}: &b${i} [${`*${i === 0 ? 'a' : `b${i - 1}`}, `.repeat(10)}]`,
    );
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\n${levels.join('\n')}\n`;
    assert.deepEqual(load(`${svc('a', '10.0.0.1')}---\n${bomb}---\n${svc('b', '10.0.0.2')}`), {
      sources: [
        { file: 'm/x.yaml', doc: 0 },
        { file: 'm/x.yaml', doc: 2 },
      ],
      errors: [
        'MESHDNS_MANIFEST_INVALID: m/x.yaml doc 1: YAML could not be read: Excessive alias count indicates a resource exhaustion attack',
      ],
    });
  });

  it('empty documents keep their index', () => {
    assert.deepEqual(load(`---\n---\n${svc('a', 'nope')}---\n${svc('b', '10.0.0.2')}---\n`), {
      sources: [{ file: 'm/x.yaml', doc: 2 }],
      errors: [
        'MESHDNS_MANIFEST_INVALID: m/x.yaml doc 1 Service default/a: spec.clusterIP "nope" is not an IP address or None',
      ],
    });
  });

  it('a document end that yaml counts as an empty document keeps the indices yaml gives', () => {
    assert.deepEqual(load(`a: 1\n...\n...\n---\n${svc('a', 'nope')}`).errors, [
      'MESHDNS_MANIFEST_INVALID: m/x.yaml doc 2 Service default/a: spec.clusterIP "nope" is not an IP address or None',
    ]);
  });

  it('a syntax error still names the document and line', () => {
    assert.deepEqual(load(`${svc('a', '10.0.0.1')}---\na: b: c\n---\n${svc('b', '10.0.0.2')}`), {
      sources: [
        { file: 'm/x.yaml', doc: 0 },
        { file: 'm/x.yaml', doc: 2 },
      ],
      errors: [
        'MESHDNS_MANIFEST_INVALID: m/x.yaml doc 1: YAML syntax error at line 7, column 4: Nested mappings are not allowed in compact mappings',
      ],
    });
  });
});
