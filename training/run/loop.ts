/**
 * The one training loop: every job's optimisation (pruning, fine-tuning, pretraining) is a
 * TrainingPhase driven by trainPhase(), which owns resume, checkpoints, stops, the NaN stop,
 * metrics.jsonl rows and progress. A phase only says how to take a step and what its state is.
 *
 * Per step: the phase records the step's GPU work and returns its scalars (a [k] tensor, the loss
 * first); nothing is read back except at log steps. The GPU is kept at most one step behind the host
 * (the time limit then measures finished work, signals are seen every step).
 */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { NonFiniteStateError, restoreTensors, writeCheckpoint } from './checkpoint.ts';
import { Progress } from './progress.ts';
import { type Run, RunStopped } from './run.ts';

/** One optimisation phase of a job. */
export interface TrainingPhase {
  /** Name in progress lines, metrics rows (`phase`) and messages. */
  readonly name: string;
  readonly totalSteps: number;
  /**
   * What a metrics row reports: the scalars of the log step ('last'), or their mean over the steps
   * since the previous row ('mean', accumulated on the GPU).
   */
  readonly logMode: 'last' | 'mean';
  /** k, the number of scalars step() returns. */
  readonly scalarCount: number;
  /** Tensors a checkpoint saves and a resume restores in place (parameters, optimizer moments). */
  stateTensors(): ReadonlyMap<string, Tensor>;
  /** Host state a checkpoint saves as JSON (sampler positions, host RNGs, optimizer step counts). */
  saveState(): unknown;
  restoreState(state: unknown): void;
  /**
   * Records optimizer step `step` (0-based) and returns its scalars, [k] with the loss first. The
   * caller disposes them.
   */
  step(step: number): Tensor;
  /** The metrics row of a log step (after `phase` and `step`), from the scalars read back. */
  record(step: number, values: readonly number[]): Record<string, unknown>;
  /** After `step` steps (1-based): evaluation and the like; may write metrics rows. */
  afterStep?(step: number): Promise<void>;
  /** After a checkpoint of `step` is written (e.g. a model snapshot beside it). */
  onCheckpoint?(step: number): Promise<void>;
}

interface LoopState {
  phase: unknown;
  rng: { seed: string; counter: string };
  windowSteps: number;
}

const WINDOW = 'run.scalar_window';

/**
 * Runs `phase` to its last step inside the current stage of `run`, resuming from the stage's
 * checkpoint when there is one.
 * @throws RunStopped when the run stops early (after writing a checkpoint if this process took a step)
 * @throws Error when a logged loss is not finite or the state to checkpoint is not finite (naming
 *   the step; the last checkpoint is kept)
 */
export async function trainPhase(run: Run, phase: TrainingPhase): Promise<void> {
  const engine = E.getEngine();
  const stage = run.stageName;
  let window: Tensor | null = null;
  let windowSteps = 0;
  const tensors = () => {
    const map = new Map(phase.stateTensors());
    if (window) map.set(WINDOW, window);
    return map;
  };
  if (phase.logMode === 'mean') window = E.keep(E.zeros([phase.scalarCount]));

  let step = 0;
  let lastCheckpoint: number | null = null;
  const found = run.resumePoint();
  if (found) {
    restoreTensors(found.dir, tensors());
    const s = found.state as unknown as LoopState;
    phase.restoreState(s.phase);
    engine.restoreRngState(s.rng);
    windowSteps = s.windowSteps;
    step = lastCheckpoint = found.step;
    run.info(`resumed the ${phase.name} phase at step ${step} of ${phase.totalSteps}`);
  }
  const kept = () => (lastCheckpoint === null ? 'no checkpoint was written yet' : `the last checkpoint (step ${lastCheckpoint}) in ${run.checkpointRoot} is kept`);

  const checkpoint = async () => {
    const state: LoopState & ReturnType<Run['checkpointState']> = { ...run.checkpointState(), phase: phase.saveState(), rng: engine.rngState(), windowSteps };
    try {
      await writeCheckpoint(run.checkpointRoot, step, tensors(), state);
    } catch (err) {
      if (err instanceof NonFiniteStateError) throw new Error(`${err.message} after ${phase.name} step ${step}: no checkpoint written; ${kept()}`);
      throw err;
    }
    lastCheckpoint = step;
    await phase.onCheckpoint?.(step);
  };

  const progress = run.hooks.quiet ? null : new Progress(phase.name, phase.totalSteps, step);
  let stepsHere = 0;
  let inFlight: Promise<void> = Promise.resolve();
  try {
    while (step < phase.totalSteps) {
      const reason = run.stopReason();
      if (reason) {
        await inFlight;
        if (stepsHere > 0) await checkpoint();
        throw new RunStopped(reason, stage, step);
      }
      run.countStep();
      const scalars = phase.step(step);
      step++;
      stepsHere++;
      if (window) {
        const sum = E.noGrad(() => E.add(window!, scalars));
        window.dispose();
        window = E.keep(sum);
        windowSteps++;
      }
      const previous = inFlight;
      inFlight = engine.sync();
      await previous;
      if (step % run.settings.logEvery === 0 || step === phase.totalSteps) {
        const values = await logValues(scalars, window, windowSteps);
        if (window) {
          window.dispose();
          window = E.keep(E.zeros([values.length]));
          windowSteps = 0;
        }
        if (!Number.isFinite(values[0]!)) throw new Error(`loss is ${values[0]} at ${phase.name} step ${step}; ${kept()}`);
        run.metrics.write({ phase: phase.name, step, ...phase.record(step, values) });
        progress?.update(step, { loss: values[0]! });
        run.heartbeat();
      }
      scalars.dispose();
      run.hooks.onStep?.(phase, step);
      await phase.afterStep?.(step);
      if (run.settings.checkpointEvery > 0 && step % run.settings.checkpointEvery === 0 && step < phase.totalSteps) await checkpoint();
    }
    await inFlight;
    // The final state too, so a kill during the stage's work after the loop (compaction, saving)
    // resumes there instead of from an earlier checkpoint.
    if (stepsHere > 0 && run.settings.checkpointEvery > 0 && lastCheckpoint !== step) await checkpoint();
  } finally {
    progress?.stop();
    window?.dispose();
  }
}

/** The scalars a row reports: this step's, or the window's mean. */
async function logValues(scalars: Tensor, window: Tensor | null, windowSteps: number): Promise<number[]> {
  if (!window) return [...(await scalars.read())];
  return [...(await window.read())].map((v) => v / windowSteps);
}
