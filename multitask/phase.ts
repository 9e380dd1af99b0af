/**
 * Multitask pruning (Xia & Shin 2021) as a training phase of the run loop (training/run/loop.ts):
 * per step a task is drawn (multitask/sampling.ts), a batch of that task's training set, and the
 * MultitaskPruner (multitask/step.ts) takes one step of w_t·L_t + the strategy's regulariser. The
 * loop owns resume, checkpoints, stops and metrics; this phase says what a step is and what its
 * state is: the weights, heads, mask variables, λ and optimizer moments (tensors), and the task
 * draw's position, each task's batch order and the optimizer step counts (host state).
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Task } from '../data/tasks.ts';
import type { PruningStrategy } from '../pruning/strategy.ts';
import { BatchSampler, type EncodedSplit, type SamplerState, makeBatch } from '../training/data.ts';
import type { TrainingPhase } from '../training/run/loop.ts';
import type { TaskHeads } from './heads.ts';
import { TaskSampler } from './sampling.ts';
import { MultitaskPruner, type MultitaskTrainOptions } from './step.ts';

/** One task's training data, in head order. */
export interface MultitaskData {
  task: Task;
  train: EncodedSplit;
}

export interface MultitaskPhaseSettings extends MultitaskTrainOptions {
  batchSize: number;
  /** Seeds the task draw (seed), each task's batch order (seed + 1 + t) and the engine's stream. */
  seed: number;
  /** Probability of drawing each task (multitask/sampling.ts samplingProbabilities). */
  probabilities: readonly number[];
  /** Loss weight of each task. */
  lossWeights: readonly number[];
}

interface MultitaskPhaseState {
  taskDraw: number;
  batches: SamplerState[];
  optimizer: { weights: number; masks: number };
  lastTask: number;
}

/** The multitask pruning phase over a strategy (its model) and the task heads, both the caller's. */
export class MultitaskPrunePhase implements TrainingPhase {
  readonly name = 'multitask-prune';
  readonly logMode = 'last';
  readonly scalarCount = 4;
  readonly totalSteps: number;
  readonly pruner: MultitaskPruner;
  private readonly taskDraw: TaskSampler;
  private readonly batches: BatchSampler[];
  private lastTask = 0;

  /**
   * Sets the engine's random stream to settings.seed (a resumed run restores it afterwards).
   * @throws Error when tasks, heads, probabilities and loss weights disagree in number, or a task
   *   has no training examples
   */
  constructor(
    readonly strategy: PruningStrategy,
    readonly heads: TaskHeads,
    readonly data: readonly MultitaskData[],
    readonly settings: MultitaskPhaseSettings,
  ) {
    if (settings.probabilities.length !== data.length) throw new Error(`MultitaskPrunePhase: ${data.length} tasks but ${settings.probabilities.length} sampling probabilities`);
    this.totalSteps = settings.steps;
    this.pruner = new MultitaskPruner(strategy, heads, data.map((d) => d.task), settings.lossWeights, settings);
    this.taskDraw = new TaskSampler(settings.probabilities, settings.seed);
    this.batches = data.map((d, t) => {
      if (d.train.n === 0) throw new Error(`task ${d.task.name} has no training examples`);
      return new BatchSampler(d.train.n, settings.batchSize, settings.seed + 1 + t);
    });
    E.getEngine().setSeed(settings.seed);
  }

  stateTensors(): ReadonlyMap<string, Tensor> {
    return this.pruner.stateTensors();
  }

  saveState(): MultitaskPhaseState {
    return { taskDraw: this.taskDraw.position, batches: this.batches.map((b) => b.state()), optimizer: this.pruner.stepCounts, lastTask: this.lastTask };
  }

  restoreState(state: unknown): void {
    const s = state as MultitaskPhaseState;
    this.taskDraw.position = s.taskDraw;
    s.batches.forEach((b, t) => this.batches[t]!.restore(b));
    this.pruner.stepCounts = s.optimizer;
    this.lastTask = s.lastTask;
  }

  /** Scalars: loss, w_t·task loss, regulariser (Lagrangian; 0 for movement), kept fraction. */
  step(step: number): Tensor {
    const t = this.taskDraw.next();
    this.lastTask = t;
    const { task, train } = this.data[t]!;
    const indices = this.batches[t]!.next();
    return E.tidy(() => this.pruner.step(t, makeBatch(train, indices, task.isRegression), step));
  }

  record(_step: number, values: readonly number[]): Record<string, unknown> {
    const [loss, objective, regularizer, kept] = values;
    return { task: this.data[this.lastTask]!.task.name, loss, task_loss: objective, lagrangian: regularizer, kept_fraction: kept };
  }

  /** Frees the optimizers (the strategy, its model and the heads stay the caller's). */
  dispose(): void {
    this.pruner.dispose();
  }
}
