// Each problem of the resources is logged when it appears, not again on every rebuild while it lasts.
import type { Logger } from 'pino';
import type { MeshdnsError } from '../errors.js';
import { formatError } from '../model/index.js';

export class ProblemLog {
  #reported = new Set<string>();

  constructor(private readonly logger: Logger) {}

  /** All current problems: the new ones are logged, the gone ones forgotten. */
  report(errors: readonly MeshdnsError[]): void {
    const now = new Set<string>();
    for (const e of errors) {
      const text = formatError(e);
      now.add(text);
      if (!this.#reported.has(text)) this.logger.warn({ code: e.code }, e.message);
    }
    this.#reported = now;
  }
}
