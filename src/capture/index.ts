export { applyCapture, removeCapture, type StepRunner } from './apply.js';
export { type CaptureOptions, CHAINS, capturePlan, removalPlan, type Step, shellLine } from './plan.js';
