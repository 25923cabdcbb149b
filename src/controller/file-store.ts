// The allocation store of a manifests folder: the state file, locked for one writer (SPEC §5).
import type { Logger } from 'pino';
import { type Allocation, AllocationFile, type StoredAllocation } from '../allocate/index.js';
import type { MeshdnsError } from '../errors.js';
import type { AllocationStore, StoredState } from './control-plane.js';
import { legacyStateFile } from './load.js';

export class StateFileStore implements AllocationStore {
  readonly #file: AllocationFile;
  readonly #path: string;
  readonly #logger: Logger;
  readonly #lockWaitMs: number;

  /** `lockWaitMs`: how long a lock held by a running process is waited for (a restart's old serve). */
  constructor(manifestsDir: string, stateFile: string, logger: Logger, lockWaitMs = 0) {
    const seedFrom = legacyStateFile(manifestsDir, stateFile);
    this.#file = new AllocationFile(stateFile, seedFrom ? { seedFrom } : {});
    this.#path = stateFile;
    this.#logger = logger;
    this.#lockWaitMs = lockWaitMs;
  }

  /** Throws MESHDNS_STATE_* for a state file it must not write (locked, unknown version, not a file). */
  async load(): Promise<StoredState> {
    await this.#file.lock(this.#lockWaitMs, (pid) =>
      this.#logger.info(
        { stateFile: this.#path, pid, waitMs: this.#lockWaitMs },
        `the state file is locked by pid ${pid}: waiting for it to stop (--state-lock-wait)`,
      ),
    );
    try {
      const loaded = await this.#file.load();
      for (const e of loaded.errors) this.#logger.warn({ code: e.code }, e.message);
      for (const note of loaded.notes) this.#logger.info({ stateFile: this.#path }, note);
      return { allocations: loaded.allocations, holdback: loaded.holdback };
    } catch (err) {
      await this.#file.close();
      throw err;
    }
  }

  /** `state`: the records as written when they carry more than the allocator's (per-name hosts' askedAt). */
  save(allocation: Allocation, state: readonly StoredAllocation[] = allocation.state): void {
    const onError = (e: MeshdnsError) => this.#logger.error({ code: e.code }, e.message);
    this.#file.save(state, onError, allocation.holdback);
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}
