// A version for a set of encoded parts that does not depend on their order: the XOR of each part's
// digest. Parts come and go one at a time, so the version follows an edit in proportion to it, and every
// replica that holds the same parts names them the same way.
import { createHash } from 'node:crypto';

/** Bytes of each part's digest folded into the sum: 2^64 parts before a collision is likely. */
const DIGEST_BYTES = 16;

export function partDigest(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest().subarray(0, DIGEST_BYTES);
}

export class DigestSum {
  readonly #sum = Buffer.alloc(DIGEST_BYTES);

  /** Adds a part's digest, or takes it out again (XOR is its own inverse). */
  toggle(digest: Buffer): void {
    for (let i = 0; i < DIGEST_BYTES; i++) this.#sum[i]! ^= digest[i]!;
  }

  get hex(): string {
    return this.#sum.toString('hex');
  }
}
