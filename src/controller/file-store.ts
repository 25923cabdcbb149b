// The allocation store of a manifests folder: the state file, locked for one writer (SPEC §5).
import type { Logger } from 'pino';
import { type Allocation, AllocationFile, type StoredAllocation } from '../allocate/index.js';
import type { AllocationStore } from './control-plane.js';
import { legacyStateFile } from './load.js';

export class StateFileStore implements AllocationStore {
  readonly #file: AllocationFile;
  readonly #path: string;
  readonly #logger: Logger;

  constructor(manifestsDir: string, stateFile: string, logger: Logger) {
    const seedFrom = legacyStateFile(manifestsDir, stateFile);
    this.#file = new AllocationFile(stateFile, seedFrom ? { seedFrom } : {});
    this.#path = stateFile;
    this.#logger = logger;
  }

  /** Throws MESHDNS_STATE_* for a state file it must not write (locked, unknown version, not a file). */
  async load(): Promise<StoredAllocation[]> {
    await this.#file.lock();
    try {
      const loaded = await this.#file.load();
      for (const e of loaded.errors) this.#logger.warn({ code: e.code }, e.message);
      for (const note of loaded.notes) this.#logger.info({ stateFile: this.#path }, note);
      return loaded.allocations;
    } catch (err) {
      await this.#file.close();
      throw err;
    }
  }

  save(allocation: Allocation): void {
    this.#file.save(allocation.state, (e) => this.#logger.error({ code: e.code }, e.message));
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}
