// Per-name VIPs in cluster mode (issue 14 item 5): `meshdns.v1.PerNameVips`, two unary calls on the
// controller's xDS port beside ADS (proto/meshdns/v1/per-name.proto). An agent asks for a VIP of a name
// it was asked under a per-name wildcard, and reports the per-name names it answered so they stay.
//
// Unary calls rather than a resource type of our own on the ADS stream: an ask is a question with one
// answer (allocated, or refused and why), not state to subscribe, version and ACK; it works alike whether
// the agent's stream is delta or state-of-the-world, carries its own deadline, and leaves the ADS stream
// an Istio agent reads exactly as it was. The VIP itself reaches every agent as any host's does: in its
// NameTable and its VipRoutes.
import { type Client, Metadata, type MethodDefinition } from '@grpc/grpc-js';
import { MeshdnsError } from '../errors.js';
import { xdsMessages } from './proto.js';

/** What a controller answers: `not-leader` from a replica that does not hold the Lease. */
export type XdsPerNameOutcome = 'allocated' | 'cap' | 'rate' | 'unknown' | 'not-leader';

export interface XdsPerNameAsk {
  /** The agent's namespace (visibility of entries), as its ADS node says. */
  namespace: string;
  /** Lower case, no trailing dot. */
  name: string;
  /** `*.db.example.com`. */
  wildcard: string;
  nodeId: string;
  /** Sent by a follower replica to the leader on the agent's behalf. */
  forwarded?: boolean;
}

export interface XdsPerNameReply {
  outcome: XdsPerNameOutcome;
  v4?: string;
  v6?: string;
  /** `not-leader`: the Lease holder, when known. */
  leader?: string;
}

export interface XdsPerNameTouch {
  namespace: string;
  names: string[];
  nodeId: string;
  forwarded?: boolean;
}

/** The controller's side: what AdsServer calls for each request. */
export interface PerNameService {
  ask(req: XdsPerNameAsk): XdsPerNameReply | Promise<XdsPerNameReply>;
  touch(req: XdsPerNameTouch): void;
}

export const PER_NAME_ASK_PATH = '/meshdns.v1.PerNameVips/Ask';
export const PER_NAME_TOUCH_PATH = '/meshdns.v1.PerNameVips/Touch';

const OUTCOMES: Record<string, XdsPerNameOutcome> = {
  ALLOCATED: 'allocated',
  CAP: 'cap',
  RATE: 'rate',
  UNKNOWN: 'unknown',
  NOT_LEADER: 'not-leader',
};
const WIRE_OUTCOMES: Record<XdsPerNameOutcome, string> = {
  allocated: 'ALLOCATED',
  cap: 'CAP',
  rate: 'RATE',
  unknown: 'UNKNOWN',
  'not-leader': 'NOT_LEADER',
};

/** Longest name or wildcard taken (RFC 1035 §2.3.4) and most names in one report. */
const MAX_NAME = 253;
const MAX_TOUCHED = 10_000;

function decoded<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw new MeshdnsError('MESHDNS_XDS_INVALID', `${what}: not a valid message: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function checkedName(what: string, value: string): string {
  const name = value.toLowerCase().replace(/\.$/, '');
  if (name === '' || name.length > MAX_NAME || /\s/.test(name)) {
    throw new MeshdnsError('MESHDNS_XDS_INVALID', `${what} ${JSON.stringify(value)} is not a host name`);
  }
  return name;
}

export function encodePerNameAsk(req: XdsPerNameAsk): Buffer {
  const { perNameAsk } = xdsMessages();
  return Buffer.from(perNameAsk.encode(perNameAsk.fromObject(req)).finish());
}

export function decodePerNameAsk(bytes: Buffer): XdsPerNameAsk {
  const { perNameAsk } = xdsMessages();
  const m = decoded(
    'PerNameAsk',
    () =>
      perNameAsk.toObject(perNameAsk.decode(bytes), { defaults: true }) as Record<string, string> & {
        forwarded?: boolean;
      },
  );
  const wildcard = checkedName('PerNameAsk wildcard', m.wildcard ?? '');
  if (!wildcard.startsWith('*.')) {
    throw new MeshdnsError(
      'MESHDNS_XDS_INVALID',
      `PerNameAsk wildcard ${JSON.stringify(wildcard)} is no wildcard`,
    );
  }
  return {
    namespace: m.namespace ?? '',
    name: checkedName('PerNameAsk name', m.name ?? ''),
    wildcard,
    nodeId: m.nodeId ?? '',
    ...(m.forwarded ? { forwarded: true } : {}),
  };
}

export function encodePerNameReply(reply: XdsPerNameReply): Buffer {
  const { perNameReply } = xdsMessages();
  const wire = { ...reply, outcome: WIRE_OUTCOMES[reply.outcome] };
  return Buffer.from(perNameReply.encode(perNameReply.fromObject(wire)).finish());
}

export function decodePerNameReply(bytes: Buffer): XdsPerNameReply {
  const { perNameReply } = xdsMessages();
  const m = decoded(
    'PerNameReply',
    () =>
      perNameReply.toObject(perNameReply.decode(bytes), { enums: String, defaults: true }) as Record<
        string,
        string
      >,
  );
  // An outcome this agent does not know (a newer controller): answered without a VIP.
  const reply: XdsPerNameReply = { outcome: OUTCOMES[m.outcome ?? ''] ?? 'unknown' };
  if (m.v4) reply.v4 = m.v4;
  if (m.v6) reply.v6 = m.v6;
  if (m.leader) reply.leader = m.leader;
  return reply;
}

export function encodePerNameTouch(req: XdsPerNameTouch): Buffer {
  const { perNameTouch } = xdsMessages();
  return Buffer.from(perNameTouch.encode(perNameTouch.fromObject(req)).finish());
}

export function decodePerNameTouch(bytes: Buffer): XdsPerNameTouch {
  const { perNameTouch } = xdsMessages();
  const m = decoded(
    'PerNameTouch',
    () =>
      perNameTouch.toObject(perNameTouch.decode(bytes), { defaults: true }) as {
        namespace?: string;
        names?: string[];
        nodeId?: string;
        forwarded?: boolean;
      },
  );
  const names = m.names ?? [];
  if (names.length > MAX_TOUCHED) {
    throw new MeshdnsError(
      'MESHDNS_XDS_INVALID',
      `PerNameTouch: ${names.length} names, at most ${MAX_TOUCHED}`,
    );
  }
  return {
    namespace: m.namespace ?? '',
    names: names.map((n) => checkedName('PerNameTouch name', n)),
    nodeId: m.nodeId ?? '',
    ...(m.forwarded ? { forwarded: true } : {}),
  };
}

const encodeTouched = (): Buffer => Buffer.alloc(0);
const decodeTouched = (): Record<string, never> => ({});

export const PER_NAME_ASK_METHOD: MethodDefinition<XdsPerNameAsk, XdsPerNameReply> = {
  path: PER_NAME_ASK_PATH,
  requestStream: false,
  responseStream: false,
  requestSerialize: encodePerNameAsk,
  requestDeserialize: decodePerNameAsk,
  responseSerialize: encodePerNameReply,
  responseDeserialize: decodePerNameReply,
};

export const PER_NAME_TOUCH_METHOD: MethodDefinition<XdsPerNameTouch, Record<string, never>> = {
  path: PER_NAME_TOUCH_PATH,
  requestStream: false,
  responseStream: false,
  requestSerialize: encodePerNameTouch,
  requestDeserialize: decodePerNameTouch,
  responseSerialize: encodeTouched,
  responseDeserialize: decodeTouched,
};

/** One unary call of PerNameVips on `client` (an agent's channel, or a follower's to the leader). */
export function unaryCall<Req, Res>(
  client: Pick<Client, 'makeUnaryRequest'>,
  path: string,
  encode: (req: Req) => Buffer,
  decode: (bytes: Buffer) => Res,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      encode,
      decode,
      req,
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, res) => (err || res === undefined ? reject(err ?? new Error('no reply')) : resolve(res)),
    );
  });
}
