// A follower controller replica's client of the leader's PerNameVips (issue 14 item 5): only the Lease
// holder allocates, so a follower forwards its agents' asks and reports there, at the address the holder
// advertises in the Lease. Replicas of one Deployment share one certificate: with TLS the follower shows
// it as its client certificate and checks the leader's against the CA, under the certificate's own name.
import { X509Certificate } from 'node:crypto';
import { type ChannelOptions, Client, credentials } from '@grpc/grpc-js';
import { DEFAULTS } from '../defaults.js';
import {
  decodePerNameReply,
  encodePerNameAsk,
  encodePerNameTouch,
  PER_NAME_ASK_PATH,
  PER_NAME_TOUCH_PATH,
  unaryCall,
  type XdsPerNameAsk,
  type XdsPerNameReply,
  type XdsPerNameTouch,
} from './per-name.js';
import type { XdsTls } from './server.js';

export class PerNameForwarder {
  readonly target: string;
  readonly #client: Client;

  constructor(target: string, tls?: XdsTls) {
    this.target = target;
    const options: ChannelOptions = {
      'grpc.keepalive_time_ms': DEFAULTS.xdsKeepaliveMs,
      'grpc.keepalive_timeout_ms': DEFAULTS.xdsKeepaliveTimeoutMs,
    };
    const name = tls && certificateName(tls.cert);
    if (name) options['grpc.ssl_target_name_override'] = name;
    const creds = tls
      ? credentials.createSsl(tls.ca ?? null, tls.key, tls.cert)
      : credentials.createInsecure();
    this.#client = new Client(target, creds, options);
  }

  ask(req: XdsPerNameAsk, timeoutMs: number): Promise<XdsPerNameReply> {
    return this.#unary(
      PER_NAME_ASK_PATH,
      encodePerNameAsk,
      decodePerNameReply,
      { ...req, forwarded: true },
      timeoutMs,
    );
  }

  async touch(req: XdsPerNameTouch, timeoutMs: number): Promise<void> {
    await this.#unary(
      PER_NAME_TOUCH_PATH,
      encodePerNameTouch,
      () => ({}),
      { ...req, forwarded: true },
      timeoutMs,
    );
  }

  close(): void {
    this.#client.close();
  }

  #unary<Req, Res>(
    path: string,
    encode: (req: Req) => Buffer,
    decode: (bytes: Buffer) => Res,
    req: Req,
    timeoutMs: number,
  ): Promise<Res> {
    return unaryCall(this.#client, path, encode, decode, req, timeoutMs);
  }
}

/** The first DNS name of a certificate (its subjectAltName, else its CN). */
function certificateName(pem: Buffer): string | undefined {
  try {
    const cert = new X509Certificate(pem);
    const dns = cert.subjectAltName
      ?.split(', ')
      .find((n) => n.startsWith('DNS:'))
      ?.slice(4);
    return dns ?? /CN=([^\n,]+)/.exec(cert.subject)?.[1];
  } catch {
    return undefined;
  }
}
