// Per-name VIPs (issue 14 item 5) on an answering worker (`--workers`): its first query of a name under a
// per-name wildcard is asked of the main thread, which asks the controller; the main thread answers once
// its own table holds the name, and this thread's copy follows with the next table it hands on.
import { nameToKey } from '../dns/index.js';
import type { PerNameClient, PerNameReply } from '../server/index.js';
import type { Agent } from './agent.js';
import type { FromWorker } from './answering-messages.js';

/** Tables waited for before the name should be in this thread's copy (the timeout ends the wait sooner). */
const MAX_TABLES = 100;

export class WorkerPerName {
  readonly #asked = new Map<number, (reply: PerNameReply) => void>();
  #nextId = 0;
  /** Resolved on the next table swap. */
  #swapped: (() => void)[] = [];

  constructor(
    private readonly agent: Agent,
    private readonly send: (m: FromWorker) => void,
    reportEveryMs: number,
  ) {
    const client: PerNameClient = { ask: (name, wildcard) => this.#ask(name, wildcard) };
    const report = (names: string[]) => {
      if (names.length > 0) send({ type: 'per-name-touched', names });
    };
    agent.usePerName(client, report, reportEveryMs);
  }

  /** The main thread's answer to request `id`. */
  answered(id: number, reply: PerNameReply): void {
    this.#asked.get(id)?.(reply);
    this.#asked.delete(id);
  }

  /** A table was swapped in on this thread. */
  swapped(): void {
    const waiting = this.#swapped;
    this.#swapped = [];
    for (const resolve of waiting) resolve();
  }

  async #ask(name: string, wildcard: string): Promise<PerNameReply> {
    const id = ++this.#nextId;
    const reply = await new Promise<PerNameReply>((resolve) => {
      this.#asked.set(id, resolve);
      this.send({ type: 'per-name', id, name, wildcard });
    });
    const key = nameToKey(`${name}.`);
    for (let i = 0; i < MAX_TABLES && reply === 'allocated'; i++) {
      if (this.agent.table()?.lookup(key)?.record.perName !== undefined) break;
      await new Promise<void>((resolve) => this.#swapped.push(resolve));
    }
    return reply;
  }
}
