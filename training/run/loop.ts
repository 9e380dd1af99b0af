/**
 * The one training loop: every job's optimisation (pruning, fine-tuning, pretraining) is a
 * TrainingPhase driven by trainPhase(), which owns resume, checkpoints, stops, the NaN stop,
 * metrics.jsonl rows and progress. A phase only says how to take a step and what its state is.
 *
 * Per step: the phase records the step's GPU work and returns its scalars (a [k] tensor, the loss
 * first), and a FiniteWatch records a check of every f32 state tensor (parameters, optimizer
 * moments); nothing is read back except at log steps and checkpoints, where the watch's flag names
 * the exact step and tensor that first held a NaN or ±Infinity, even one the loss never sees. The GPU is kept at most one step behind the host
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
 * @throws Error when a state tensor became non-finite (naming the step, the tensor and its first bad
 *   element), a logged loss is not finite, or the state to checkpoint is not finite; the last
 *   checkpoint is kept
 */
export async function trainPhase(run: Run, phase: TrainingPhase): Promise<void> {
  const loop = new PhaseLoop(run, phase);
  try {
    loop.resume();
    await loop.steps();
  } finally {
    loop.dispose();
  }
}

/** The state of one phase's loop: its step, the scalar window, the checkpoints written. */
class PhaseLoop {
  private step = 0;
  private stepsHere = 0;
  private lastCheckpoint: number | null = null;
  /** Sum of the scalars since the last metrics row ('mean' log mode). */
  private window: Tensor | null;
  private windowSteps = 0;
  private readonly engine = E.getEngine();
  private readonly stage: string;
  private progress: Progress | null = null;
  /** Checks the state tensors every step on the GPU; read at log steps and before checkpoints. */
  private readonly watch = new E.FiniteWatch();

  constructor(
    private readonly run: Run,
    private readonly phase: TrainingPhase,
  ) {
    this.stage = run.stageName;
    this.window = phase.logMode === 'mean' ? E.keep(E.zeros([phase.scalarCount])) : null;
  }

  /** The tensors of a checkpoint: the phase's and the scalar window. */
  private tensors(): Map<string, Tensor> {
    const map = new Map(this.phase.stateTensors());
    if (this.window) map.set(WINDOW, this.window);
    return map;
  }

  /** Restores the stage's checkpoint, if there is one. */
  resume(): void {
    const found = this.run.resumePoint();
    if (!found) return;
    restoreTensors(found.dir, this.tensors());
    const s = found.state as unknown as LoopState;
    this.phase.restoreState(s.phase);
    this.engine.restoreRngState(s.rng);
    this.windowSteps = s.windowSteps;
    this.step = this.lastCheckpoint = found.step;
    this.run.info(`resumed the ${this.phase.name} phase at step ${this.step} of ${this.phase.totalSteps}`);
  }

  /** What remains of the run after a failure, for messages. */
  private kept(): string {
    return this.lastCheckpoint === null ? 'no checkpoint was written yet' : `the last checkpoint (step ${this.lastCheckpoint}) in ${this.run.checkpointRoot} is kept`;
  }

  /**
   * Reads the watch's flag (flushing the GPU).
   * @throws Error naming the step and tensor that first held a non-finite value
   */
  private async assertFinite(): Promise<void> {
    const bad = await this.watch.read();
    if (bad) throw new Error(`non-finite state at ${this.phase.name} ${E.describeNonFiniteValue(bad)}; ${this.kept()}`);
  }

  /** The phase's f32 state tensors, by name (what the watch checks). */
  private f32State(): Array<[string, Tensor]> {
    return [...this.phase.stateTensors()].filter(([, t]) => t.dtype === 'f32');
  }

  /**
   * Records this step's check of every f32 state tensor (no readback): one elementwise pass each,
   * except those an optimizer already checked in its update kernel during the step.
   */
  private checkFinite(state: Array<[string, Tensor]>): void {
    this.watch.check(this.step, state);
  }

  private async checkpoint(): Promise<void> {
    await this.assertFinite();
    const state: LoopState & ReturnType<Run['checkpointState']> = { ...this.run.checkpointState(), phase: this.phase.saveState(), rng: this.engine.rngState(), windowSteps: this.windowSteps };
    try {
      await writeCheckpoint(this.run.checkpointRoot, this.step, this.tensors(), state);
    } catch (err) {
      if (err instanceof NonFiniteStateError) throw new Error(`${err.message} after ${this.phase.name} step ${this.step}: no checkpoint written; ${this.kept()}`);
      throw err;
    }
    this.lastCheckpoint = this.step;
    await this.phase.onCheckpoint?.(this.step);
  }

  /** Steps to the end of the phase (or until the run must stop). */
  async steps(): Promise<void> {
    const { run, phase } = this;
    this.progress = run.hooks.quiet ? null : new Progress(phase.name, phase.totalSteps, this.step);
    let inFlight: Promise<void> = Promise.resolve();
    while (this.step < phase.totalSteps) {
      const reason = run.stopReason();
      if (reason) {
        await inFlight;
        if (this.stepsHere > 0) await this.checkpoint();
        throw new RunStopped(reason, this.stage, this.step);
      }
      run.countStep();
      E.profileStepStart(); // --profile: what ran since the last step (evaluation, checkpoints) is left out
      // Optimizers check what they write inside their update kernels (FiniteWatch.activate);
      // checkFinite then passes over the state tensors no optimizer wrote in this step.
      const state = this.f32State();
      this.watch.activate(this.step + 1, state);
      let scalars: Tensor;
      try {
        scalars = phase.step(this.step);
      } finally {
        this.watch.deactivate();
      }
      this.step++;
      this.stepsHere++;
      this.checkFinite(state);
      this.accumulate(scalars);
      // Keep the GPU at most one step behind: the time limit then measures finished work.
      const previous = inFlight;
      inFlight = this.engine.sync();
      await previous;
      if (this.step % run.settings.logEvery === 0 || this.step === phase.totalSteps) await this.log(scalars);
      scalars.dispose();
      E.profileStep();
      run.hooks.onStep?.(phase, this.step);
      await phase.afterStep?.(this.step);
      if (run.settings.checkpointEvery > 0 && this.step % run.settings.checkpointEvery === 0 && this.step < phase.totalSteps) await this.checkpoint();
    }
    await inFlight;
    await this.assertFinite();
    // The final state too, so a kill during the stage's work after the loop (compaction, saving)
    // resumes there instead of from an earlier checkpoint.
    if (this.stepsHere > 0 && run.settings.checkpointEvery > 0 && this.lastCheckpoint !== this.step) await this.checkpoint();
  }

  /** Adds a step's scalars to the window ('mean' log mode). */
  private accumulate(scalars: Tensor): void {
    if (!this.window) return;
    const sum = E.noGrad(() => E.add(this.window!, scalars));
    this.window.dispose();
    this.window = E.keep(sum);
    this.windowSteps++;
  }

  /**
   * A metrics row: the step's scalars or the window's mean, read back.
   * @throws Error naming the step when the loss is not finite
   */
  private async log(scalars: Tensor): Promise<void> {
    const values = this.window ? [...(await this.window.read())].map((v) => v / this.windowSteps) : [...(await scalars.read())];
    if (this.window) {
      this.window.dispose();
      this.window = E.keep(E.zeros([values.length]));
      this.windowSteps = 0;
    }
    await this.assertFinite();
    if (!Number.isFinite(values[0]!)) throw new Error(`loss is ${values[0]} at ${this.phase.name} step ${this.step}; ${this.kept()}`);
    this.run.metrics.write({ phase: this.phase.name, step: this.step, ...this.phase.record(this.step, values) });
    this.progress?.update(this.step, { loss: values[0]! });
    this.run.heartbeat();
  }

  dispose(): void {
    this.progress?.stop();
    this.window?.dispose();
    this.watch.dispose();
  }
}
