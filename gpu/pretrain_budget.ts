/**
 * Pretraining that fills a time budget with a whole learning-rate schedule: the GPU program
 * (scripts/gpu-run.sh) pretrains for "the time left", and a run cut off by --time-limit alone would
 * stop mid-schedule, at a high learning rate. So the step time is measured first, on a short
 * calibration run with the same options (which also fills the token cache), and --steps is chosen so
 * that warmup and decay to 0 end inside the budget; --time-limit stays as the safety net.
 *
 * Plan (all times measured here, in seconds):
 *   stepSeconds = (t[C] − t[k]) / (C − k)   host time per step after k warm-up steps of a C-step run
 *                                            (the run loop keeps the GPU at most one step behind)
 *   tailSeconds = the calibration run's time after its last step (held-out evaluation, model save)
 *   steps       = ⌊(fill · left − (evaluations + 1) · tailSeconds) / stepSeconds⌋
 *   time limit  = left − tailSeconds         (no step starts later: the last evaluation and save fit)
 * Checkpoints are written only if the time limit stops the run (with the model saved beside): a run
 * that fits its plan spends no time on them. The calibration run writes into the output folder too;
 * when the time left fits no step (a heavily loaded machine), it stays there as the result.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JobContext, JobResult } from '../jobs/job.ts';
import { type PretrainInput, type PretrainSummary, pretrainJob } from '../jobs/pretrain.ts';

/** Options of {@link pretrainWithinBudget}. */
export interface BudgetOptions {
  /** Seconds, from the call, within which pretraining (calibration included) must end. */
  budgetSeconds: number;
  /** Steps of the calibration run (default 30); it is timed from step ⌊C/3⌋ (at least 2) on. */
  calibrationSteps?: number;
  /** Held-out evaluations over the main run: the points of the loss curve (default 10). */
  evaluations?: number;
  /** Fraction of the remaining time planned for steps; the rest absorbs checkpoints and drift (default 0.85). */
  fill?: number;
}

/** What the budget planner measured and chose (written as budget.json beside the run's outputs). */
export interface BudgetPlan {
  budgetSeconds: number;
  calibration: { steps: number; timedFrom: number; stepSeconds: number; tailSeconds: number; seconds: number };
  /** Seconds left for the main run when it was planned. */
  secondsLeft: number;
  steps: number;
  evalEvery: number;
  checkpointEvery: number;
  /** The main run's --time-limit. */
  timeLimit: number;
  /** No step fitted the time left: the calibration run is the result (its `steps`). */
  keptCalibration: boolean;
}

type MainPlan = Pick<BudgetPlan, 'steps' | 'evalEvery' | 'checkpointEvery' | 'timeLimit'>;

/**
 * Steps, evaluation and checkpoint intervals and time limit of a main run that has `secondsLeft`.
 * @returns null when not even one step fits
 * @throws Error when the step time is not positive
 */
export function planSteps(secondsLeft: number, stepSeconds: number, tailSeconds: number, evaluations: number, fill: number): MainPlan | null {
  if (!(stepSeconds > 0)) throw new Error(`pretrain budget: measured step time ${stepSeconds} s is not positive`);
  const forSteps = fill * secondsLeft - (evaluations + 1) * tailSeconds;
  const steps = Math.floor(forSteps / stepSeconds);
  if (steps < 1) return null;
  return {
    steps,
    evalEvery: Math.max(1, Math.ceil(steps / Math.max(1, evaluations))),
    checkpointEvery: 0,
    timeLimit: Math.max(1, secondsLeft - tailSeconds),
  };
}

/**
 * Calibrates the step time, then pretrains with --steps chosen to end within the budget (see the
 * file's header). `input` is the pretrain job's input without `steps`; its `out` receives the main
 * run (or the calibration run when no step fits the time left), `budget.json` (the
 * {@link BudgetPlan}) and everything the pretrain job writes; the token cache defaults to
 * OUT-token-cache beside it.
 * @throws Error when the calibration run does not finish; whatever the job throws
 */
export async function pretrainWithinBudget(input: Omit<PretrainInput, 'steps'>, options: BudgetOptions, context: JobContext = {}): Promise<{ plan: BudgetPlan; result: JobResult<PretrainSummary> }> {
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const C = options.calibrationSteps ?? 30;
  const k = Math.max(2, Math.floor(C / 3));
  if (C <= k) throw new Error(`pretrain budget: --calibration-steps must exceed ${k} (got ${C})`);
  const evaluations = options.evaluations ?? 10;
  const fill = options.fill ?? 0.85;
  const info = context.hooks?.info ?? ((m: string) => console.error(m));

  // Outside OUT: the main run's --overwrite removes OUT/token-cache, the job's default.
  input = { ...input, cacheDir: input.cacheDir ?? `${input.out}-token-cache` };
  const stamps: number[] = [];
  const calibration = await pretrainJob(
    { ...input, steps: C, overwrite: true, resume: false, evalEvery: 0, checkpointEvery: 0, stopAfter: undefined, timeLimit: undefined },
    { hooks: { ...context.hooks, onStep: (phase, step) => { stamps[step] = performance.now(); context.hooks?.onStep?.(phase, step); } } },
  );
  const calibrationSeconds = elapsed();
  if (calibration.status !== 'done' || stamps[C] === undefined || stamps[k] === undefined) throw new Error(`pretrain budget: the calibration run did not finish its ${C} steps`);
  const stepSeconds = (stamps[C]! - stamps[k]!) / 1000 / (C - k);
  const tailSeconds = (t0 + calibrationSeconds * 1000 - stamps[C]!) / 1000;

  const secondsLeft = options.budgetSeconds - elapsed();
  const planned = planSteps(secondsLeft, stepSeconds, tailSeconds, evaluations, fill);
  const plan: BudgetPlan = {
    budgetSeconds: options.budgetSeconds,
    calibration: { steps: C, timedFrom: k, stepSeconds, tailSeconds, seconds: calibrationSeconds },
    secondsLeft,
    ...(planned ?? { steps: C, evalEvery: 0, checkpointEvery: 0, timeLimit: 0 }),
    keptCalibration: planned === null,
  };
  const measured = `${stepSeconds.toFixed(3)} s per step, ${tailSeconds.toFixed(1)} s per evaluation and save (calibration ${calibrationSeconds.toFixed(0)} s)`;
  const writePlan = () => fs.writeFileSync(path.join(input.out, 'budget.json'), `${JSON.stringify(plan, null, 1)}\n`);
  if (!planned) {
    info(`pretrain budget: ${measured}; the ${secondsLeft.toFixed(0)} s left fit no step: the ${C}-step calibration run is the result`);
    writePlan();
    return { plan, result: calibration };
  }
  info(`pretrain budget: ${measured}; ${plan.steps} steps in the ${secondsLeft.toFixed(0)} s left, held-out loss every ${plan.evalEvery}`);
  const result = await pretrainJob(
    { ...input, steps: plan.steps, evalEvery: plan.evalEvery, checkpointEvery: plan.checkpointEvery, timeLimit: plan.timeLimit, stopAfter: undefined, resume: false, overwrite: true },
    context,
  );
  writePlan();
  return { plan, result };
}
