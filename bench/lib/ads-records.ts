// The agents launcher's records (servers/ads-agents.ts), read as they grow: every response each
// agent got, with its type, version and arrival time (wall-clock ms).
import { closeSync, openSync, readSync } from 'node:fs';

export interface AdsRecord {
  a: number;
  /** N: name table, V: VIP routes, W: workload config. */
  t: string;
  v: string;
  at: number;
  /** Bytes of the response's resources (the encoded table, routes or config). */
  b?: number;
}

/** Agent a lives in namespace ns-(a mod namespaces): the launcher and the scenario both use this. */
export const agentNamespace = (a: number, namespaces: number) => `ns-${a % namespaces}`;

/** Wall-clock milliseconds with sub-millisecond resolution: the launcher and the bench read the same clock. */
export const wallMs = () => performance.timeOrigin + performance.now();

const CHUNK = 1 << 20;

export class AdsRecords {
  /** Per agent, its responses in arrival order. */
  readonly byAgent: AdsRecord[][];
  private readonly fd: number;
  private partial = '';
  private readonly buf = Buffer.alloc(CHUNK);

  constructor(
    file: string,
    readonly agents: number,
  ) {
    this.fd = openSync(file, 'a+');
    this.byAgent = Array.from({ length: agents }, () => []);
  }

  /** Reads what was appended since the last call. */
  poll(): void {
    for (;;) {
      const n = readSync(this.fd, this.buf, 0, CHUNK, null);
      if (n === 0) return;
      const lines = (this.partial + this.buf.toString('utf8', 0, n)).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line) continue;
        const r = JSON.parse(line) as AdsRecord;
        this.byAgent[r.a]?.push(r);
      }
    }
  }

  /** Agent a's first response of type t that arrived after `after`, if any. */
  firstAfter(a: number, t: string, after: number): AdsRecord | undefined {
    return this.byAgent[a].find((r) => r.t === t && r.at > after);
  }

  /** Agent a's responses of type t that arrived in (from, to]. */
  countBetween(a: number, t: string, from: number, to: number): number {
    return this.byAgent[a].filter((r) => r.t === t && r.at > from && r.at <= to).length;
  }

  close(): void {
    closeSync(this.fd);
  }
}
