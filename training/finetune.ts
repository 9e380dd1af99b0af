/**
 * Fine-tuning a classifier/regressor on one task as a training phase: AdamW with transformers'
 * defaults (no weight decay on biases and layer-norm weights, gradient clipping at 1), linear warmup
 * and decay, dropout, evaluation on dev every N steps and at the end, the best model kept (by the
 * task's main metric). The run loop (training/run/loop.ts) drives it.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Task } from '../data/tasks.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import type { Bert } from '../models/bert.ts';
import { saveModel } from '../models/load.ts';
import { BatchSampler, type EncodedSplit, type SamplerState, makeBatch, taskLoss } from './data.ts';
import { evaluate } from './evaluate.ts';
import type { TrainingPhase } from './run/loop.ts';
import type { MetricsLog } from './run/metrics_log.ts';

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
}

/** What fine-tuning found: dev metrics of the best evaluation and of the last. */
export interface FinetuneOutcome {
  best: Record<string, number>;
  bestStep: number;
  steps: number;
  final: Record<string, number>;
}

interface FinetuneState {
  sampler: SamplerState;
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
  private readonly sampler: BatchSampler;
  private readonly mainMetric: string;
  private best: Record<string, number> | null = null;
  private bestStep = -1;
  private final: Record<string, number> = {};

  /**
   * Sets the engine's random stream to settings.seed (a resumed run restores it afterwards).
   * @param io.bestDir where the best model is saved (a checkpoint directory); nothing saved when absent
   */
  constructor(
    private readonly model: Bert,
    private readonly task: Task,
    private readonly train: EncodedSplit,
    private readonly dev: EncodedSplit,
    private readonly settings: FinetuneSettings,
    private readonly io: { metrics: MetricsLog; bestDir?: string; tokenizer?: BertTokenizer },
  ) {
    this.totalSteps = settings.steps;
    this.opt = modelOptimizer(model.params, settings.lr, settings.weightDecay, settings.maxGradNorm);
    this.sampler = new BatchSampler(train.n, settings.batchSize, settings.seed);
    this.mainMetric = task.metricNames[0]!;
    E.getEngine().setSeed(settings.seed);
  }

  stateTensors(): ReadonlyMap<string, Tensor> {
    return new Map([...[...this.model.params].filter(([, t]) => t.requiresGrad), ...this.opt.stateTensors()]);
  }

  saveState(): FinetuneState {
    return { sampler: this.sampler.state(), optimizerStep: this.opt.stepCount, best: this.best, bestStep: this.bestStep };
  }

  restoreState(state: unknown): void {
    const s = state as FinetuneState;
    this.sampler.restore(s.sampler);
    this.opt.stepCount = s.optimizerStep;
    this.best = s.best;
    this.bestStep = s.bestStep;
  }

  private lrFactor(step: number): number {
    return E.linearWarmupDecay(step, this.settings.warmupSteps, this.totalSteps);
  }

  step(step: number): Tensor {
    return E.tidy(() => {
      const batch = makeBatch(this.train, this.sampler.next(), this.task.isRegression);
      const { logits } = this.model.classify(batch.inputs, { training: true });
      const loss = taskLoss(this.task, logits, batch.labels);
      E.backward(loss);
      this.opt.step(this.lrFactor(step));
      this.opt.zeroGrad();
      return E.reshape(loss, [1]);
    });
  }

  record(step: number, values: readonly number[]): Record<string, unknown> {
    return { loss: values[0], lr: this.settings.lr * this.lrFactor(step - 1) };
  }

  async afterStep(step: number): Promise<void> {
    const { evalEvery } = this.settings;
    if (step !== this.totalSteps && !(evalEvery > 0 && step % evalEvery === 0)) return;
    const { metrics } = await evaluate(this.model, this.dev, this.task, { batchSize: this.settings.evalBatchSize });
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
  }
}
