/**
 * CoFi pruning (Xia, Zhong, Chen 2022, §3) as a training phase, with an optional transfer task
 * (Dery, Hannun, Grangier): each step samples hard-concrete masks, and the loss is the task loss (or
 * distillation from a teacher, §3.3) plus the Lagrangian λ1(ŝ−t) + λ2(ŝ−t)² on the target's
 * expected sparsity ŝ (§3.2) plus the δ penalty of the δ-formulation. Three optimizer groups:
 * weights (lr, linear decay, clipped), log_alpha (reg_lr), λ1 λ2 (−reg_lr: gradient ascent).
 * With a transfer task, each step's batch comes from the target with probability w_T/(w_T + w_A);
 * the transfer task has its own classifier on the shared pooler.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Bert } from '../models/bert.ts';
import { makeBatch, taskLoss } from '../training/data.ts';
import { decays } from '../training/finetune.ts';
import type { TrainingPhase } from '../training/run/loop.ts';
import { type MixState, type TaskData, TaskMix, TransferHead, mixedLogits } from '../training/task_mix.ts';
import { type DistillOptions, LayerTransformation, distillationLoss } from './distill.ts';
import { Lagrangian, type MaskType } from './l0_module.ts';
import { type MaskSetup, type TransferMethod, setupMasks } from './transfer.ts';

/** Hyper-parameters of the pruning phase. */
export interface PruneSettings {
  method: TransferMethod;
  /** Target sparsity t (fraction of prunable parameters removed), or several in increasing order. */
  sparsity: number | readonly number[];
  steps: number;
  /** With several targets: steps per target (the Lagrangian's segments). */
  segmentSteps?: number;
  batchSize: number;
  seed: number;
  lr: number;
  regLr: number;
  /** Steps over which the target ramps from 0 to t. */
  lagrangianWarmup: number;
  /** Sampling weights of target and transfer batches. */
  taskWeights: readonly [number, number];
  deltaL2: number;
  maskTypes: readonly MaskType[];
  weightDecay: number;
  distill: DistillOptions;
}

interface PruneState {
  mix: MixState;
  weightsStep: number;
  regStep: number;
}

/** CoFi's pruning phase over a dense model (trained in place) and its masks. */
export class CofiPrunePhase implements TrainingPhase {
  readonly name = 'prune';
  readonly logMode = 'last';
  readonly scalarCount = 6;
  readonly totalSteps: number;
  readonly masks: MaskSetup;
  readonly lagrangian: Lagrangian;
  private readonly auxHead: TransferHead | null = null;
  private readonly transformation: LayerTransformation | null = null;
  private readonly weights: Array<[string, Tensor]>;
  private readonly weightsOpt: E.AdamW;
  private readonly regOpt: E.AdamW;
  private readonly mix: TaskMix;
  /** Called after each step (the prune job snapshots the masks at the end of each target). */
  afterStep?: (step: number) => Promise<void>;
  /** The task and objective of the latest step (a metrics row reports them). */
  private last = { task: '', distilled: false };

  /**
   * Sets the engine's random stream to settings.seed (a resumed run restores it afterwards).
   * @param teacher a fine-tuned model to distil from (frozen), or null
   */
  constructor(
    private readonly model: Bert,
    target: TaskData,
    transfer: TaskData | null,
    private readonly teacher: Bert | null,
    private readonly settings: PruneSettings,
  ) {
    const o = settings;
    const config = model.config;
    this.totalSteps = o.steps;
    this.masks = setupMasks(o.method, config, o.maskTypes, o.seed + 17, o.deltaL2);
    this.lagrangian = new Lagrangian(o.sparsity, o.lagrangianWarmup, 'l0', o.segmentSteps);
    if (transfer) this.auxHead = new TransferHead(model, transfer.task.numLabels, o.seed + 29);
    if (teacher) this.transformation = new LayerTransformation(config.hiddenSize, teacher.config.hiddenSize);
    this.weights = [
      ...[...model.params].filter(([, t]) => t.requiresGrad),
      ...(this.auxHead ? this.auxHead.parameters() : []),
      ...(this.transformation ? this.transformation.parameters().map((t) => [t.label, t] as [string, Tensor]) : []),
    ];
    this.weightsOpt = new E.AdamW(
      [
        { params: this.weights.filter(([n]) => decays(n)).map(([, t]) => t), lr: o.lr, weightDecay: o.weightDecay },
        { params: this.weights.filter(([n]) => !decays(n)).map(([, t]) => t), lr: o.lr, weightDecay: 0 },
      ],
      { maxGradNorm: 1 },
    );
    this.regOpt = new E.AdamW([
      { params: this.masks.parameters, lr: o.regLr, name: 'log_alpha' },
      { params: this.lagrangian.parameters(), lr: -o.regLr, name: 'lambda' },
    ]);
    this.mix = new TaskMix(target, transfer, o.batchSize, o.seed, o.taskWeights);
    E.getEngine().setSeed(o.seed);
  }

  stateTensors(): ReadonlyMap<string, Tensor> {
    const named = (ts: readonly Tensor[]) => ts.map((t) => [t.label, t] as [string, Tensor]);
    return new Map<string, Tensor>([
      ...this.weights,
      ...named(this.masks.parameters),
      ...named(this.lagrangian.parameters()),
      ...this.weightsOpt.stateTensors(),
      ...[...this.regOpt.stateTensors()].map(([k, v]) => [`reg.${k}`, v] as [string, Tensor]),
    ]);
  }

  saveState(): PruneState {
    return { mix: this.mix.state(), weightsStep: this.weightsOpt.stepCount, regStep: this.regOpt.stepCount };
  }

  restoreState(state: unknown): void {
    const s = state as PruneState;
    this.mix.restore(s.mix);
    this.weightsOpt.stepCount = s.weightsStep;
    this.regOpt.stepCount = s.regStep;
  }

  /** Scalars: loss, objective (task or distillation loss), Lagrangian, expected sparsity, λ1, λ2. */
  step(step: number): Tensor {
    const { onTarget, data, indices } = this.mix.next();
    const l0 = onTarget ? this.masks.target : this.masks.transfer!;
    const distilled = this.teacher !== null && onTarget;
    this.last = { task: data.task.name, distilled };
    const scalars = E.tidy(() => {
      const batch = makeBatch(data.train, indices, data.task.isRegression);
      const sampled = l0.sample();
      const { logits, hidden } = mixedLogits(this.model, batch.inputs, onTarget ? null : this.auxHead, { masks: sampled, outputHiddenStates: distilled });
      const objective = distilled
        ? distillationLoss(this.settings.distill, { logits, hidden: hidden! }, this.teacherOutputs(batch.inputs), this.transformation!, sampled.headLayerZ ? E.concat(sampled.headLayerZ.map((z) => z!), 0) : null).loss
        : taskLoss(data.task, logits, batch.labels);
      const expected = this.masks.target.expectedSparsity();
      const lag = this.lagrangian.loss(expected, step);
      let loss = E.add(objective, lag);
      if (this.masks.penalty) loss = E.add(loss, this.masks.penalty());
      E.backward(loss);
      this.weightsOpt.step(E.linearWarmupDecay(step, 0, this.totalSteps));
      this.regOpt.step();
      this.weightsOpt.zeroGrad();
      this.regOpt.zeroGrad();
      return E.concat([loss, objective, lag, expected, this.lagrangian.lambda1.view([]), this.lagrangian.lambda2.view([])].map((t) => E.reshape(t, [1])), 0);
    });
    this.masks.constrain();
    return scalars;
  }

  /** The frozen teacher's logits and hidden states (no gradients). */
  private teacherOutputs(inputs: Parameters<Bert['encode']>[0]): { logits: Tensor; hidden: Tensor[] } {
    const teacher = this.teacher!;
    return E.noGrad(() => {
      const te = teacher.encode(inputs, { training: false, outputHiddenStates: true });
      return { logits: E.matmul(teacher.pool(te.sequence), teacher.p('classifier.weight'), { transB: true, bias: teacher.p('classifier.bias') }), hidden: te.hiddenStates! };
    });
  }

  record(step: number, values: readonly number[]): Record<string, unknown> {
    const [loss, objective, lag, expected, l1, l2] = values;
    return {
      task: this.last.task,
      loss,
      [this.last.distilled ? 'distill_loss' : 'task_loss']: objective,
      lagrangian: lag,
      expected_sparsity: expected,
      target_sparsity: this.lagrangian.target(step),
      lambda_1: l1,
      lambda_2: l2,
    };
  }

  /** Frees what the phase made (the model and the teacher stay with the caller). */
  dispose(): void {
    this.auxHead?.dispose();
    this.transformation?.dispose();
    this.masks.dispose();
    this.lagrangian.dispose();
    this.weightsOpt.dispose();
    this.regOpt.dispose();
  }
}
