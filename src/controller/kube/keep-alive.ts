// client-node makes an agent of its own without keep-alive for every request (KubeConfig.createAgent on
// each call), so each status write would pay a TCP (and TLS) handshake: 10,000 writes at start-up would be
// 10,000 connections. This stands one keep-alive agent with the same TLS settings in for the agent
// client-node made, so writes reuse a few connections. Proxy agents (socks, http(s) proxies) are left alone.
import http from 'node:http';
import https from 'node:https';

type TlsOptions = Pick<
  https.AgentOptions,
  'ca' | 'cert' | 'key' | 'pfx' | 'rejectUnauthorized' | 'servername'
>;

const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'rejectUnauthorized', 'servername'] as const;

/**
 * client-node reads the CA, certificate and key again for every request (a new Buffer each time, from the
 * file or the kubeconfig's base64): compared by identity, every request got a new agent, which destroyed
 * the connections of the writes in flight.
 */
function sameSetting(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => sameSetting(x, b[i]));
  return false;
}

export class KeepAliveAgent {
  readonly #maxSockets: number;
  #agent: http.Agent | undefined;
  /** The TLS settings #agent was made with: a kubeconfig whose certificates rotated gets a new agent. */
  #tls: TlsOptions = {};

  /** `maxSockets`: connections kept (the writes in flight at once). */
  constructor(maxSockets: number) {
    this.#maxSockets = maxSockets;
  }

  /**
   * The shared agent standing in for `made`, the agent client-node made for one request (its TLS settings
   * are the kubeconfig's); undefined for none or a proxy agent, which is used as made.
   */
  agentFor(made: http.Agent | undefined): http.Agent | undefined {
    if (!made) return undefined;
    const kind =
      made.constructor === https.Agent ? 'https' : made.constructor === http.Agent ? 'http' : undefined;
    if (!kind) return undefined;
    const options = (made as http.Agent & { options: https.AgentOptions }).options;
    if (!this.#agent || TLS_FIELDS.some((f) => !sameSetting(options[f], this.#tls[f]))) {
      this.#agent?.destroy();
      const shared = { ...options, keepAlive: true, maxSockets: this.#maxSockets };
      this.#agent = kind === 'https' ? new https.Agent(shared) : new http.Agent(shared);
      this.#tls = Object.fromEntries(TLS_FIELDS.map((f) => [f, options[f]])) as TlsOptions;
    }
    return this.#agent;
  }

  /** Closes the kept connections. */
  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
  }
}
