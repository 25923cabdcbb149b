// DNS wire constants (RFC 1035 §3.2, §4.1; RFC 3596; RFC 6891).

export const HEADER_SIZE = 12;
/** RFC 1035 §4.2.1: a UDP message without EDNS is at most 512 bytes. */
export const UDP_MIN_SIZE = 512;
/** The EDNS buffer size we advertise (DNS flag day 2020 recommendation). */
export const EDNS_UDP_SIZE = 1232;
export const MAX_MESSAGE_SIZE = 65535;
/** RFC 1035 §2.3.4: a label is at most 63 bytes, a name at most 255 on the wire. */
export const MAX_LABEL_LENGTH = 63;
export const MAX_NAME_LENGTH = 255;
/** RFC 1035 §4.2: the port servers listen on. */
export const DNS_PORT = 53;

export const QTYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const CLASS_IN = 1;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

export const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
};

export const OPCODE_QUERY = 0;
/** The RCODE field: the low 4 bits of the flags word (byte 3 of the header). */
export const RCODE_MASK = 0x000f;

// Header flag bits (second 16-bit word).
export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_CD = 0x0010;
/** EDNS DO bit, in the OPT record's TTL field (RFC 3225). */
export const EDNS_DO = 0x8000;

const QTYPE_BY_NAME: Record<string, number> = { ...QTYPE, SVCB: 64, HTTPS: 65, CAA: 257, DS: 43, DNSKEY: 48 };

/** "A", "aaaa", "TYPE65" or "65" → the type number; undefined for anything else. */
export function parseQtype(text: string): number | undefined {
  const t = text.toUpperCase();
  if (t in QTYPE_BY_NAME) return QTYPE_BY_NAME[t];
  const m = /^(?:TYPE)?(\d{1,5})$/.exec(t);
  const n = m ? Number(m[1]) : Number.NaN;
  return n > 0 && n < 65536 ? n : undefined;
}

/** The type's mnemonic, or RFC 3597's "TYPEnnn". */
export function qtypeName(qtype: number): string {
  return Object.entries(QTYPE_BY_NAME).find(([, n]) => n === qtype)?.[0] ?? `TYPE${qtype}`;
}
