// DNS messages for property tests and the wire fuzzer (issue 11): well-formed queries, and the
// structure-aware ways a hostile or broken client bends them — wrong counts, compression-pointer
// loops and forward pointers, labels over 63 bytes, names over 255, cut headers, EDNS options of
// every size, and plain random bytes.
import fc from 'fast-check';

export interface QuerySpec {
  id: number;
  labels: string[];
  qtype: number;
  qclass: number;
  rd: boolean;
  /** An OPT record: its UDP size, DO bit and options (code, data). */
  edns: { udpSize: number; do: boolean; options: [number, Uint8Array][] } | null;
}

const label = fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,20}$/);

export const querySpec: fc.Arbitrary<QuerySpec> = fc.record({
  id: fc.integer({ min: 0, max: 0xffff }),
  labels: fc.array(label, { minLength: 0, maxLength: 6 }),
  qtype: fc.oneof(fc.constantFrom(1, 28, 5, 16, 33, 255, 65), fc.integer({ min: 0, max: 0xffff })),
  qclass: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 0xffff })),
  rd: fc.boolean(),
  edns: fc.option(
    fc.record({
      udpSize: fc.integer({ min: 0, max: 0xffff }),
      do: fc.boolean(),
      options: fc.array(
        fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ minLength: 0, maxLength: 300 })),
        { maxLength: 3 },
      ),
    }),
  ),
});

/** The wire form of a well-formed query. */
export function encodeQuery(s: QuerySpec): Buffer {
  const name = Buffer.concat([
    ...s.labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(s.id, 0);
  header.writeUInt16BE(s.rd ? 0x0100 : 0, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(s.edns ? 1 : 0, 10);
  const question = Buffer.alloc(4);
  question.writeUInt16BE(s.qtype, 0);
  question.writeUInt16BE(s.qclass, 2);
  const parts = [header, name, question];
  if (s.edns) {
    const options = Buffer.concat(
      s.edns.options.map(([code, data]) => {
        const o = Buffer.alloc(4 + data.length);
        o.writeUInt16BE(code, 0);
        o.writeUInt16BE(data.length, 2);
        Buffer.from(data).copy(o, 4);
        return o;
      }),
    );
    const opt = Buffer.alloc(11);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(s.edns.udpSize, 3);
    opt.writeUInt32BE(s.edns.do ? 0x8000 : 0, 5);
    opt.writeUInt16BE(options.length, 9);
    parts.push(opt, options);
  }
  return Buffer.concat(parts);
}

/** The wire key the server uses for the question name: lower-cased labels, length-prefixed. */
export function keyOf(labels: string[]): string {
  return `${labels.map((l) => String.fromCharCode(l.length) + l.toLowerCase()).join('')}\x00`;
}

export type Mutation = (msg: Buffer, pick: (n: number) => number) => Buffer;

const at = (msg: Buffer, off: number, value: number, width: 1 | 2): Buffer => {
  const out = Buffer.from(msg);
  if (off + width <= out.length) {
    if (width === 1) out[off] = value & 0xff;
    else out.writeUInt16BE(value & 0xffff, off);
  }
  return out;
};

/** Structure-aware mutations, each named for the report. */
export const MUTATIONS: Record<string, Mutation> = {
  'wrong qdcount': (m, pick) => at(m, 4, pick(3) === 0 ? 0 : 2 + pick(0xfffd), 2),
  'wrong ancount': (m, pick) => at(m, 6, 1 + pick(0xfffe), 2),
  'wrong nscount': (m, pick) => at(m, 8, 1 + pick(0xfffe), 2),
  'wrong arcount': (m, pick) => at(m, 10, 1 + pick(0xfffe), 2),
  'QR set': (m) => at(m, 2, m.readUInt16BE(2) | 0x8000, 2),
  'other opcode': (m, pick) => at(m, 2, (m.readUInt16BE(2) & 0x87ff) | ((1 + pick(15)) << 11), 2),
  'cut short': (m, pick) => m.subarray(0, pick(m.length)),
  'pointer loop in the name': (m) => Buffer.concat([m.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
  'forward pointer': (m) => Buffer.concat([m.subarray(0, 12), Buffer.from([0xc0, 18, 0, 1, 0, 1, 1, 97, 0])]),
  'label over 63': (m, pick) => {
    const len = 64 + pick(192);
    return Buffer.concat([
      m.subarray(0, 12),
      Buffer.from([len]),
      Buffer.alloc(len, 97),
      Buffer.from([0, 0, 1, 0, 1]),
    ]);
  },
  'name over 255': (m) => {
    const labels = Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 98)]));
    return Buffer.concat([m.subarray(0, 12), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  },
  'reserved label type': (m, pick) => at(m, 12, 0x40 | pick(0x40), 1),
  'flipped byte': (m, pick) => (m.length === 0 ? m : at(m, pick(m.length), pick(256), 1)),
  'random tail': (m, pick) =>
    Buffer.concat([m, Buffer.from(Array.from({ length: pick(64) }, () => pick(256)))]),
  'random bytes': (_m, pick) => Buffer.from(Array.from({ length: pick(600) }, () => pick(256))),
  'huge EDNS option length': (m, pick) => {
    // An OPT record whose option claims more bytes than follow.
    const opt = Buffer.from([0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 8, 0, 10, 0xff, 0xff, 1, 2, 3, 4]);
    const out = Buffer.concat([m, opt.subarray(0, 11 + pick(9))]);
    out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
    return out;
  },
};

export const MUTATION_NAMES = Object.keys(MUTATIONS);

/** A deterministic uniform pick in [0, n) from a 32-bit xorshift state, so a run can be replayed. */
export function picker(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return n <= 0 ? 0 : x % n;
  };
}
