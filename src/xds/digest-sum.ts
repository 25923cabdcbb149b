// A version for a set of encoded parts that does not depend on their order: the XOR of each part's
// digest. Parts come and go one at a time, so the version follows an edit in proportion to it, and every
// replica that holds the same parts names them the same way.

/**
 * 64 bits of FNV-1a over the part, in two 32-bit lanes with different offsets. Not cryptographic: a
 * version only has to change when the content does (an edit goes unnoticed only if the old and the new
 * part collide, about 2^-64), and a SHA-256 per part cost the controller a third of a full build.
 */
export function partDigest(bytes: Uint8Array): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i]!, 0x01000193);
    b = Math.imul(b ^ bytes[i]!, 0x5bd1e995);
  }
  return [a >>> 0, (b ^ (b >>> 15)) >>> 0];
}

/** 16 hex digits: a resource's version in delta xDS. */
export function digestHex([a, b]: readonly [number, number]): string {
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

const HEX64 = /^[0-9a-f]{16}$/;

/**
 * A resource version back as a digest, so a type's version can be the sum of its resources' versions:
 * 16 hex digits (digestHex) are read as they are, any other text (a version a caller chose) is digested.
 */
export function versionDigest(version: string): [number, number] {
  if (HEX64.test(version))
    return [Number.parseInt(version.slice(0, 8), 16), Number.parseInt(version.slice(8), 16)];
  return partDigest(Buffer.from(version, 'utf8'));
}

export class DigestSum {
  #a = 0;
  #b = 0;

  /** Adds a part's digest, or takes it out again (XOR is its own inverse). */
  toggle([a, b]: [number, number]): void {
    this.#a = (this.#a ^ a) >>> 0;
    this.#b = (this.#b ^ b) >>> 0;
  }

  get hex(): string {
    return digestHex([this.#a, this.#b]);
  }
}
