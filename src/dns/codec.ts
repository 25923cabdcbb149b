// The full message codec (dns-packet) for the rare paths that decode or re-encode a whole message
// (presentation, ExternalName chasing, cache scrubbing). Loaded on first use: it is not needed to
// forward or to answer from the table, and loading it would delay the first answer at start-up.
import { createRequire } from 'node:module';

type Codec = typeof import('dns-packet');

const require = createRequire(import.meta.url);
let codec: Codec | undefined;

/** dns-packet, required on the first call (synchronously: its callers are synchronous). */
export function dnsCodec(): Codec {
  codec ??= require('dns-packet') as Codec;
  return codec;
}
