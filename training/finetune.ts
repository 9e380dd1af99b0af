/**
 * Fine-tuning a classifier/regressor on one task as a training phase: AdamW with transformers'
 * defaults (no weight decay on biases and layer-norm weights, gradient clipping at 1), linear warmup
 * and decay, dropout, evaluation on dev every N steps and at the end, the best model kept (by the
 * task's main metric). With a transfer task, batches of both are mixed (FT(T, A) of Dery et al.,
 * training/task_mix.ts) and evaluation is on the target. The run loop (training/run/loop.ts) drives it.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Task } from '../data/tasks.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import type { Bert } from '../models/bert.ts';
import { saveModel } from '../models/load.ts';
import { type EncodedSplit, makeBatch, taskLoss } from './data.ts';
import { checkHeadFitsTask, evaluate } from './evaluate.ts';
import type { TrainingPhase } from './run/loop.ts';
import type { MetricsLog } from './run/metrics_log.ts';
import { type MixState, type TaskData, TaskMix, TransferHead, mixedLogits } from './task_mix.ts';

export interface FinetuneSettings {
  /** Optimizer steps. */
  steps: number;
  lr: number;
  batchSize: number;
  /** Linear warmup steps. */
  warmupSteps: number;
  weightDecay: number;
  /** Evaluate every this many steps (and at the end); 0: only at the end. */
  evalEvery: number;
  /** Seeds the batch order and the engine's random stream (dropout). */
  seed: number;
  maxGradNorm: number;
  evalBatchSize: number;
  /** Sampling weights of target and transfer batches (with a transfer task). */
  taskWeights?: readonly [number, number];
}

/** The data of a fine-tuning phase: the target task (trained and evaluated), an optional transfer task. */
export interface FinetuneData {
  target: TaskData;
  dev: EncodedSplit;
  transfer?: TaskData | null;
}

/** What fine-tuning found: dev metrics of the best evaluation and of the last. */
export interface FinetuneOutcome {
  best: Record<string, number>;
  bestStep: number;
  steps: number;
  final: Record<string, number>;
}

interface FinetuneState {
  mix: MixState;
  optimizerStep: number;
  best: Record<string, number> | null;
  bestStep: number;
}

/** transformers' rule: no weight decay for biases and layer-norm weights. */
export function decays(name: string): boolean {
  return !(name.endsWith('.bias') || name.includes('LayerNorm.'));
}

/**
 * Number of optimizer steps: `steps` when given, else `epochs` (default 3) over the training set.
 */
export function totalSteps(options: { steps?: number; epochs?: number; batchSize: number }, trainSize: number): number {
  if (options.steps !== undefined) return options.steps;
  return Math.max(1, Math.round((options.epochs ?? 3) * Math.ceil(trainSize / options.batchSize)));
}

/** AdamW over a model's trainable parameters in transformers' two groups (decay / no decay). */
export function modelOptimizer(params: Iterable<[string, Tensor]>, lr: number, weightDecay: number, maxGradNorm: number): E.AdamW {
  const trainable = [...params].filter(([, t]) => t.requiresGrad);
  return new E.AdamW(
    [
      { params: trainable.filter(([n]) => decays(n)).map(([, t]) => t), lr, weightDecay, name: 'decay' },
      { params: trainable.filter(([n]) => !decays(n)).map(([, t]) => t), lr, weightDecay: 0, name: 'no_decay' },
    ],
    { maxGradNorm },
  );
}

/** Fine-tuning of `model` (its trainable parameters) on one task. */
export class FinetunePhase implements TrainingPhase {
  readonly name = 'finetune';
  readonly logMode = 'last';
  readonly scalarCount = 1;
  readonly totalSteps: number;
  private readonly opt: E.AdamW;
  private readonly mix: TaskMix;
  private readonly head: TransferHead | null;
  private readonly task: Task;
  private readonly mainMetric: string;
  private lastTask = '';
  private best: Record<string, number> | null = null;
  private bestStep = -1;
  private final: Record<string, number> = {};

  /**
   * Sets the engine's random stream to settings.seed (a resumed run restores it afterwards).
   * @param io.bestDir where the best model is saved (a checkpoint directory); nothing saved when absent
   */
  constructor(
    private readonly model: Bert,
    private readonly data: FinetuneData,
    private readonly settings: FinetuneSettings,
    private readonly io: { metrics: MetricsLog; bestDir?: string; tokenizer?: BertTokenizer },
  ) {
    checkHeadFitsTask(model, data.target.task); // before training, not at the first evaluation
    this.totalSteps = settings.steps;
    this.task = data.target.task;
    const transfer = data.transfer ?? null;
    this.head = transfer ? new TransferHead(model, transfer.task.numLabels, settings.seed + 29) : null;
    this.opt = modelOptimizer([...model.params, ...(this.head?.parameters() ?? [])], settings.lr, settings.weightDecay, settings.maxGradNorm);
    this.mix = new TaskMix(data.target, transfer, settings.batchSize, settings.seed, settings.taskWeights);
    this.mainMetric = this.task.metricNames[0]!;
    E.getEngine().setSeed(settings.seed);
  }

  stateTensors(): ReadonlyMap<string, Tensor> {
    return new Map([...[...this.model.params].filter(([, t]) => t.requiresGrad), ...(this.head?.parameters() ?? []), ...this.opt.stateTensors()]);
  }

  saveState(): FinetuneState {
    return { mix: this.mix.state(), optimizerStep: this.opt.stepCount, best: this.best, bestStep: this.bestStep };
  }

  restoreState(state: unknown): void {
    const s = state as FinetuneState;
    this.mix.restore(s.mix);
    this.opt.stepCount = s.optimizerStep;
    this.best = s.best;
    this.bestStep = s.bestStep;
  }

  private lrFactor(step: number): number {
    return E.linearWarmupDecay(step, this.settings.warmupSteps, this.totalSteps);
  }

  step(step: number): Tensor {
    const { onTarget, data, indices } = this.mix.next();
    this.lastTask = data.task.name;
    return E.tidy(() => {
      const batch = makeBatch(data.train, indices, data.task.isRegression);
      const { logits } = mixedLogits(this.model, batch.inputs, onTarget ? null : this.head, {});
      const loss = taskLoss(data.task, logits, batch.labels);
      E.backward(loss);
      this.opt.step(this.lrFactor(step));
      this.opt.zeroGrad();
      return E.reshape(loss, [1]);
    });
  }

  record(step: number, values: readonly number[]): Record<string, unknown> {
    const lr = this.settings.lr * this.lrFactor(step - 1);
    return this.head ? { task: this.lastTask, loss: values[0], lr } : { loss: values[0], lr };
  }

  async afterStep(step: number): Promise<void> {
    const { evalEvery } = this.settings;
    if (step !== this.totalSteps && !(evalEvery > 0 && step % evalEvery === 0)) return;
    const { metrics } = await evaluate(this.model, this.data.dev, this.task, { batchSize: this.settings.evalBatchSize });
    this.final = metrics;
    this.io.metrics.write({ phase: this.name, step, eval: metrics });
    if (!this.best || (metrics[this.mainMetric] ?? -Infinity) > (this.best[this.mainMetric] ?? -Infinity)) {
      this.best = metrics;
      this.bestStep = step;
      if (this.io.bestDir) await saveModel(this.model, this.io.bestDir, { tokenizer: this.io.tokenizer });
    }
  }

  /** The dev metrics found (after the last step). */
  outcome(): FinetuneOutcome {
    return { best: this.best ?? this.final, bestStep: this.bestStep, steps: this.totalSteps, final: this.final };
  }

  dispose(): void {
    this.opt.dispose();
    this.head?.dispose();
  }
}
