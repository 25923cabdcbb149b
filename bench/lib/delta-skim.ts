// A DeltaDiscoveryResponse read for its version, type, nonce and resource bytes only: the benchmark's raw
// agents measure the controller and the transport, not the decoding each real agent does in its own
// process. Field numbers are Envoy's (checked by hand in test/unit/xds-wire.test.ts).
import protobuf from 'protobufjs';

export interface SkimmedDelta {
  /** system_version_info. */
  v: string;
  typeUrl: string;
  nonce: string;
  /** Bytes of the resources, unread. */
  b: number;
}

export function skimDelta(bytes: Buffer): SkimmedDelta {
  const r = protobuf.Reader.create(bytes);
  const out: SkimmedDelta = { v: '', typeUrl: '', nonce: '', b: 0 };
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | 2)) out.v = r.string();
    else if (tag === ((4 << 3) | 2)) out.typeUrl = r.string();
    else if (tag === ((5 << 3) | 2)) out.nonce = r.string();
    else if (tag === ((2 << 3) | 2)) {
      const n = r.uint32();
      out.b += n;
      r.skip(n);
    } else r.skipType(tag & 7);
  }
  return out;
}
