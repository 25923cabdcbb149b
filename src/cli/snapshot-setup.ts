// Restarts with a warm cache (issue 14 item 3), as `serve` and `agent` wire them: where the snapshot is,
// loading it once the listeners answer, and the SIGTERM path — hand the port over, write the snapshot,
// close. Light imports only: this runs before the DNS listeners are up (SPEC §4).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type Agent, SnapshotKeeper } from '../agent/index.js';
import { DEFAULTS } from '../defaults.js';
import type { ServeExtraFlags } from './serve-options.js';

/** serve's default: the state file's name, `.allocations.json` (or `.json`) replaced by `.snapshot.json`. */
export function snapshotBeside(stateFile: string): string {
  const stem = stateFile.replace(
    new RegExp(`(${DEFAULTS.stateFileSuffix.replaceAll('.', '\\.')}|\\.json)$`),
    '',
  );
  return `${stem}${DEFAULTS.snapshotFileSuffix}`;
}

/**
 * The agent's default: one per DNS port (the process that takes the port over finds it), in a folder of
 * this user's (a snapshot another user could write is not trusted: snapshot.ts).
 */
export function agentSnapshotFile(port: number, uid = process.getuid?.() ?? 0): string {
  return join(tmpdir(), `meshdns-${uid}`, `agent-${port}${DEFAULTS.snapshotFileSuffix}`);
}

/** The snapshot file these flags name; undefined with `--no-snapshot`. */
export function snapshotFile(flags: ServeExtraFlags, byDefault: () => string): string | undefined {
  if (flags.snapshot === false) return undefined;
  return flags.snapshotFile ?? byDefault();
}

/** Starts loading (and watching for) the snapshot, once the agent answers; undefined without a file. */
export function keepSnapshots(
  agent: Agent,
  file: string | undefined,
  logger: Logger,
): SnapshotKeeper | undefined {
  if (file === undefined) return undefined;
  const keeper = new SnapshotKeeper({ file, agent, logger, pollMs: DEFAULTS.snapshotPollMs });
  keeper.start().catch((err: Error) => logger.warn({ err: err.message }, 'snapshot not loaded'));
  return keeper;
}

/** SIGTERM: stop taking queries and answer those taken, write the snapshot, close. */
export async function handOver(agent: Agent, keeper: () => SnapshotKeeper | undefined): Promise<void> {
  await agent.handOver();
  await keeper()?.save();
  await agent.close();
}
