// Running the capture plan. Root (CAP_NET_ADMIN) is needed; without it we say so and stop.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { MeshdnsError } from '../errors.js';
import { type CaptureOptions, capturePlan, removalPlan, type Step } from './plan.js';

const run = promisify(execFile);

export type StepRunner = (argv: string[]) => Promise<void>;

const execStep: StepRunner = async (argv) => {
  await run(argv[0], argv.slice(1), { timeout: 10_000 });
};

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new MeshdnsError(
      'MESHDNS_CAPTURE',
      'changing iptables rules and routes needs root (CAP_NET_ADMIN): run it as root, e.g. in an init container',
    );
  }
}

async function runSteps(steps: Step[], runner: StepRunner): Promise<void> {
  for (const step of steps) {
    try {
      await runner(step.argv);
    } catch (err) {
      if (step.ignoreFailure) continue;
      const detail = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
      throw new MeshdnsError('MESHDNS_CAPTURE', `${step.argv.join(' ')}: ${detail}`, { cause: err });
    }
  }
}

/** Installs the capture; removes ours first, so applying twice leaves one copy. */
export async function applyCapture(o: CaptureOptions, runner: StepRunner = execStep): Promise<void> {
  requireRoot();
  await runSteps(removalPlan(o), runner);
  await runSteps(capturePlan(o), runner);
}

export async function removeCapture(o: CaptureOptions, runner: StepRunner = execStep): Promise<void> {
  requireRoot();
  await runSteps(removalPlan(o), runner);
}
