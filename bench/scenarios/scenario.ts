// What every benchmark scenario provides, so run.ts can run, print and save any of them alike.
import type { Comparison } from '../lib/compare.js';
import type { BenchConfig } from '../lib/config.js';
import type { ProcessGroup } from '../lib/processes.js';
import type { Tool } from '../lib/tools.js';

export interface ScenarioContext {
  config: BenchConfig;
  group: ProcessGroup;
  /** Absolute path of each required tool, by executable name. */
  tools: Map<string, string>;
  /** A private temporary folder, removed after the scenario. */
  workDir: string;
  log: (line: string) => void;
}

export interface ScenarioResult extends Comparison {
  scenario: string;
  description: string;
  /** Facts of the set-up worth keeping with the figures (name count, flags, …). */
  setup: Record<string, unknown>;
}

export interface Scenario {
  name: string;
  description: string;
  tools: readonly Tool[];
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}
