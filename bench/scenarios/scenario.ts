// What every benchmark scenario provides, so run.ts can run, print and save any of them alike.
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

/** What every scenario's result has; each adds its own figures (dnsperf contenders, TCP paths). */
export interface ScenarioResult {
  scenario: string;
  description: string;
  /** Facts of the set-up worth keeping with the figures (name count, flags, …). */
  setup: Record<string, unknown>;
  warnings: string[];
}

export interface Scenario<R extends ScenarioResult = ScenarioResult> {
  name: string;
  description: string;
  tools: readonly Tool[];
  /** Why it must run as root, if it must (e.g. a mount namespace); run.ts checks before starting. */
  needsRoot?: string;
  /** Why it runs in a network namespace of its own when run as root (lib/netns.ts). */
  ownNetns?: string;
  run(ctx: ScenarioContext): Promise<R>;
  /** The result as printed on stdout: figures, ratios, warnings. */
  format(result: R): string;
}
