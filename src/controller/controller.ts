// The control plane for one workload, in-process (`meshdns serve`): resources from a watched
// manifests folder → name table → the agent. Every change rebuilds the table off the hot path.
import type { Logger } from 'pino';
import type { MeshdnsError } from '../errors.js';
import type { Resources } from '../model/index.js';
import { buildNameTable, type NameTable, type TableScope } from '../nametable/index.js';
import { ManifestSource } from '../sources/index.js';

export interface ControllerOptions {
  manifestsDir: string;
  scope: TableScope;
  /** A new table, with the invalid objects left out of it. */
  onTable: (table: NameTable, errors: MeshdnsError[]) => void;
  logger: Logger;
  debounceMs?: number;
}

export class Controller {
  private readonly source: ManifestSource;
  private readonly opts: ControllerOptions;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.source = new ManifestSource({
      dir: opts.manifestsDir,
      debounceMs: opts.debounceMs,
      logger: opts.logger,
      onChange: (snapshot, errors) => this.rebuild(snapshot, errors),
    });
  }

  private rebuild(snapshot: Resources, errors: MeshdnsError[]): void {
    const table = buildNameTable(snapshot, this.opts.scope);
    this.opts.logger.info(
      { names: table.size, errors: errors.length, dir: this.opts.manifestsDir },
      'name table built',
    );
    this.opts.onTable(table, errors);
  }

  async start(): Promise<void> {
    await this.source.start();
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}
