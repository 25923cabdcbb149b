// Records in presentation format (RFC 1035 §5.1), as `dig` prints them: for `lookup`, `explain` and
// the debug views. Off the hot path, so the message is decoded with dns-packet.
import type dnsPacket from 'dns-packet';
import { dnsCodec } from './codec.js';
import { FLAG_AA, FLAG_RA, FLAG_RD, FLAG_TC, RCODE_MASK, RCODE_NAMES } from './constants.js';

export interface PresentedRecord {
  name: string;
  type: string;
  ttl: number;
  /** The RDATA as dig +short prints it: "192.0.2.1", "web.example.", "10 mx.example.". */
  data: string;
}

export interface PresentedMessage {
  rcode: string;
  flags: string[];
  answers: PresentedRecord[];
  authorities: PresentedRecord[];
}

const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`);

function rdata(type: string, data: unknown): string {
  if (typeof data === 'string') return ['CNAME', 'NS', 'PTR', 'DNAME'].includes(type) ? fqdn(data) : data;
  if (Buffer.isBuffer(data)) return `\\# ${data.length} ${data.toString('hex')}`;
  if (Array.isArray(data))
    return data.map((d) => `"${Buffer.isBuffer(d) ? d.toString() : String(d)}"`).join(' ');
  const d = data as Record<string, unknown>;
  switch (type) {
    case 'MX':
      return `${d.preference} ${fqdn(String(d.exchange))}`;
    case 'SRV':
      return `${d.priority} ${d.weight} ${d.port} ${fqdn(String(d.target))}`;
    case 'SOA':
      return `${fqdn(String(d.mname))} ${fqdn(String(d.rname))} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    default:
      return JSON.stringify(data);
  }
}

function present(list: dnsPacket.Answer[] | undefined): PresentedRecord[] {
  return (list ?? [])
    .filter((r) => r.type !== 'OPT')
    .map((r) => {
      const rec = r as { name: string; type: string; ttl?: number; data?: unknown };
      return { name: fqdn(rec.name), type: rec.type, ttl: rec.ttl ?? 0, data: rdata(rec.type, rec.data) };
    });
}

/** A response message for people; throws when it does not decode. */
export function presentMessage(msg: Buffer): PresentedMessage {
  const p = dnsCodec().decode(msg);
  const flags = msg.readUInt16BE(2);
  const names: [number, string][] = [
    [FLAG_AA, 'aa'],
    [FLAG_TC, 'tc'],
    [FLAG_RD, 'rd'],
    [FLAG_RA, 'ra'],
  ];
  return {
    rcode: RCODE_NAMES[flags & RCODE_MASK] ?? `RCODE${flags & RCODE_MASK}`,
    flags: names.filter(([bit]) => flags & bit).map(([, n]) => n),
    answers: present(p.answers),
    authorities: present(p.authorities),
  };
}
