/**
 * One multitask pruning step under any strategy (Xia & Shin 2021, §2: the shared encoder is pruned
 * with the sum of the task losses as objective; per step a batch of one task, drawn by
 * multitask/sampling.ts, with that task's loss weight):
 *   loss = w_t · L_t(head_t(pool(encoder(x; masks)))) + regulariser
 * with the strategy's masks (pruning/strategy.ts) and its Lagrangian (none for movement).
 * multitaskLoss is the step's loss alone; MultitaskPruner adds the optimizers (weights and heads,
 * mask variables, λ by ascent, as `prune`), so a job is a loop over sampled batches around step().
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Task } from '../data/tasks.ts';
import { type Batch, type EncodedSplit, taskLoss } from '../training/data.ts';
import { evaluate } from '../training/evaluate.ts';
import { decays } from '../training/finetune.ts';
import type { PruningStrategy } from '../pruning/strategy.ts';
import type { TaskHeads } from './heads.ts';

/** The parts of one step's loss (scalars, in the step's scope). */
export interface StepLoss {
  loss: Tensor;
  /** w_t · task loss. */
  objective: Tensor;
  /** The Lagrangian term (0 for movement). */
  regularizer: Tensor;
  /** Expected (movement: exact) kept fraction of the dense prunable parameters. */
  keptFraction: Tensor;
}

/**
 * The loss of one training step on a batch of task t (call inside the step's tidy scope).
 * @param weight the task's loss weight
 */
export function multitaskLoss(strategy: PruningStrategy, heads: TaskHeads, t: number, task: Pick<Task, 'isRegression'>, batch: Batch, step: number, weight = 1): StepLoss {
  const { model } = strategy;
  const enc = model.encode(batch.inputs, { training: true, masks: strategy.stepMasks(step) });
  const pooled = E.dropout(model.pool(enc.sequence), model.config.hiddenDropout, true);
  const objective = E.scale(taskLoss(task, heads.logits(t, pooled), batch.labels), weight);
  const reg = strategy.regularizer(step);
  const regularizer = reg.loss ?? E.zeros([]);
  return { loss: E.add(objective, regularizer), objective, regularizer, keptFraction: reg.keptFraction };
}

export interface MultitaskTrainOptions {
  /** Steps of the run (the weights' learning rate decays linearly to 0 at the last). */
  steps: number;
  /** Weights and heads (AdamW, gradients clipped at 1). */
  lr: number;
  /** Mask variables (log_alpha, movement scores). */
  maskLr: number;
  /** λ1 λ2, trained by ascent at −lagrangianLr (default maskLr, as `prune`'s reg_lr for both). */
  lagrangianLr?: number;
  weightDecay: number;
  /** Warm-up steps of the weights' learning rate (default 0). */
  warmupSteps?: number;
}

/** A strategy, the task heads and their optimizers: one call per training step. */
export class MultitaskPruner {
  private readonly weightsOpt: E.AdamW;
  private readonly maskOpt: E.AdamW;
  private readonly weights: Array<[string, Tensor]>;

  /**
   * @param tasks the tasks in head order
   * @param lossWeights one per task (multitask/sampling.ts parseLossWeights)
   */
  constructor(
    readonly strategy: PruningStrategy,
    readonly heads: TaskHeads,
    readonly tasks: readonly Task[],
    readonly lossWeights: readonly number[],
    readonly options: MultitaskTrainOptions,
  ) {
    if (lossWeights.length !== tasks.length || heads.tasks.length !== tasks.length) throw new Error(`MultitaskPruner: ${tasks.length} tasks, ${heads.tasks.length} heads and ${lossWeights.length} loss weights`);
    this.weights = [...[...strategy.model.params].filter(([, t]) => t.requiresGrad), ...heads.named()];
    this.weightsOpt = new E.AdamW(
      [
        { params: this.weights.filter(([n]) => decays(n)).map(([, t]) => t), lr: options.lr, weightDecay: options.weightDecay },
        { params: this.weights.filter(([n]) => !decays(n)).map(([, t]) => t), lr: options.lr, weightDecay: 0 },
      ],
      { maxGradNorm: 1 },
    );
    const lambdas = strategy.lagrangianParameters();
    this.maskOpt = new E.AdamW([
      { params: strategy.maskParameters(), lr: options.maskLr, name: 'masks' },
      ...(lambdas.length > 0 ? [{ params: lambdas, lr: -(options.lagrangianLr ?? options.maskLr), name: 'lambda' }] : []),
    ]);
  }

  /**
   * Forward, backward and the optimizer steps on a batch of task t, then the strategy's clamps.
   * @returns [loss, objective, regularizer, kept fraction] (a [4] tensor the caller disposes;
   *   reading it is the only sync)
   */
  step(t: number, batch: Batch, step: number): Tensor {
    const scalars = E.tidy(() => {
      const l = multitaskLoss(this.strategy, this.heads, t, this.tasks[t]!, batch, step, this.lossWeights[t]!);
      E.backward(l.loss);
      this.weightsOpt.step(E.linearWarmupDecay(step, this.options.warmupSteps ?? 0, this.options.steps));
      this.maskOpt.step();
      this.weightsOpt.zeroGrad();
      this.maskOpt.zeroGrad();
      return E.concat([l.loss, l.objective, l.regularizer, l.keptFraction].map((x) => E.reshape(x, [1])), 0);
    });
    this.strategy.constrain();
    return scalars;
  }

  /**
   * Dev metrics of task t on the masked model, with the deterministic masks fitted to the budget
   * (what the final model computes).
   */
  async evaluate(t: number, split: EncodedSplit, batchSize: number): Promise<Record<string, number>> {
    const masks = await this.strategy.evaluationMasks();
    try {
      const { metrics } = await evaluate(this.strategy.model, split, this.tasks[t]!, { batchSize, masks: masks.masks, head: (pooled) => this.heads.logits(t, pooled) });
      return metrics;
    } finally {
      masks.dispose();
    }
  }

  /** Every tensor a resumed run needs: weights, heads, mask variables, λ, optimizer moments. */
  stateTensors(): Map<string, Tensor> {
    return new Map<string, Tensor>([
      ...this.weights,
      ...this.strategy.stateTensors(),
      ...this.weightsOpt.stateTensors(),
      ...[...this.maskOpt.stateTensors()].map(([k, v]) => [`masks.${k}`, v] as [string, Tensor]),
    ]);
  }

  /** Optimizer step counts (AdamW bias correction), for run-state checkpoints. */
  get stepCounts(): { weights: number; masks: number } {
    return { weights: this.weightsOpt.stepCount, masks: this.maskOpt.stepCount };
  }

  set stepCounts(c: { weights: number; masks: number }) {
    this.weightsOpt.stepCount = c.weights;
    this.maskOpt.stepCount = c.masks;
  }

  /** Frees the optimizers (the strategy and heads stay their owner's). */
  dispose(): void {
    this.weightsOpt.dispose();
    this.maskOpt.dispose();
  }
}
