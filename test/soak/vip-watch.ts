// Reads /debug/vips every second and compares each host's VIPs with the first ones seen: a VIP must
// never change, nor vanish, while its ServiceEntry exists (DESIGN.md invariants).
import { fetchDebug } from '../../bench/lib/admin-api.js';
import type { ServerAddress } from '../../bench/lib/dns-probe.js';

interface VipRow {
  namespace: string;
  name: string;
  host: string;
  v4?: string;
  v6?: string;
}

export async function readVips(admin: ServerAddress): Promise<Map<string, string> | undefined> {
  const view = (await fetchDebug(admin, 'vips', 2000)) as { vips?: VipRow[] } | undefined;
  if (!view?.vips) return undefined;
  return new Map(
    view.vips.map((v) => [`${v.namespace}/${v.name} ${v.host}`, `${v.v4 ?? '-'} ${v.v6 ?? '-'}`]),
  );
}

export class VipWatch {
  polls = 0;
  unanswered = 0;
  readonly changes: string[] = [];
  readonly vanished: string[] = [];
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly admin: ServerAddress,
    readonly first: ReadonlyMap<string, string>,
  ) {}

  start(intervalMs: number): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
        const now = await readVips(this.admin);
        this.polls++;
        if (!now) {
          this.unanswered++;
          continue;
        }
        for (const [key, vips] of this.first) {
          const seen = now.get(key);
          if (seen === undefined) this.vanished.push(`${key} (was ${vips})`);
          else if (seen !== vips) this.changes.push(`${key}: ${vips} -> ${seen}`);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
