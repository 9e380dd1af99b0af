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
import type { Task } from '../data/tasks.ts';
import type { Bert } from '../models/bert.ts';
import type { SamplerState } from '../training/data.ts';
import { BatchSampler, type EncodedSplit, makeBatch, taskLoss } from '../training/data.ts';
import { decays } from '../training/finetune.ts';
import type { TrainingPhase } from '../training/run/loop.ts';
import { type DistillOptions, LayerTransformation, distillationLoss } from './distill.ts';
import { Lagrangian, type MaskType } from './l0_module.ts';
import { type MaskSetup, type TransferMethod, setupMasks } from './transfer.ts';

/** Hyper-parameters of the pruning phase. */
export interface PruneSettings {
  method: TransferMethod;
  /** Target sparsity t (fraction of prunable parameters removed). */
  sparsity: number;
  steps: number;
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

/** A task's training data in the phase. */
export interface PhaseTask {
  task: Task;
  train: EncodedSplit;
}

interface PruneState {
  samplers: { target: SamplerState; transfer: SamplerState | null };
  taskRng: number;
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
  private readonly auxHead: { weight: Tensor; bias: Tensor } | null = null;
  private readonly transformation: LayerTransformation | null = null;
  private readonly weights: Array<[string, Tensor]>;
  private readonly weightsOpt: E.AdamW;
  private readonly regOpt: E.AdamW;
  private readonly samplers: { target: BatchSampler; transfer: BatchSampler | null };
  private readonly taskRng: E.HostRandom;
  private readonly pTarget: number;
  /** The task and objective of the latest step (a metrics row reports them). */
  private last = { task: '', distilled: false };

  /**
   * Sets the engine's random stream to settings.seed (a resumed run restores it afterwards).
   * @param teacher a fine-tuned model to distil from (frozen), or null
   */
  constructor(
    private readonly model: Bert,
    private readonly target: PhaseTask,
    private readonly transfer: PhaseTask | null,
    private readonly teacher: Bert | null,
    private readonly settings: PruneSettings,
  ) {
    const o = settings;
    const config = model.config;
    this.totalSteps = o.steps;
    this.masks = setupMasks(o.method, config, o.maskTypes, o.seed + 17, o.deltaL2);
    this.lagrangian = new Lagrangian(o.sparsity, o.lagrangianWarmup);
    if (transfer) {
      const rng = new E.HostRandom(o.seed + 29);
      const P = config.poolerSize ?? config.hiddenSize;
      const C = transfer.task.numLabels;
      this.auxHead = {
        weight: E.parameter(Float32Array.from({ length: C * P }, () => config.initializerRange * rng.normal()), [C, P], 'transfer.classifier.weight'),
        bias: E.parameter(new Float32Array(C), [C], 'transfer.classifier.bias'),
      };
    }
    if (teacher) this.transformation = new LayerTransformation(config.hiddenSize, teacher.config.hiddenSize);
    this.weights = [
      ...[...model.params].filter(([, t]) => t.requiresGrad),
      ...(this.auxHead ? ([['transfer.classifier.weight', this.auxHead.weight], ['transfer.classifier.bias', this.auxHead.bias]] as Array<[string, Tensor]>) : []),
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
    this.samplers = {
      target: new BatchSampler(target.train.n, o.batchSize, o.seed),
      transfer: transfer ? new BatchSampler(transfer.train.n, o.batchSize, o.seed + 1) : null,
    };
    this.taskRng = new E.HostRandom(o.seed + 7);
    this.pTarget = transfer ? o.taskWeights[0] / (o.taskWeights[0] + o.taskWeights[1]) : 1;
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
    return {
      samplers: { target: this.samplers.target.state(), transfer: this.samplers.transfer?.state() ?? null },
      taskRng: this.taskRng.position,
      weightsStep: this.weightsOpt.stepCount,
      regStep: this.regOpt.stepCount,
    };
  }

  restoreState(state: unknown): void {
    const s = state as PruneState;
    this.samplers.target.restore(s.samplers.target);
    if (this.samplers.transfer && s.samplers.transfer) this.samplers.transfer.restore(s.samplers.transfer);
    this.taskRng.position = s.taskRng;
    this.weightsOpt.stepCount = s.weightsStep;
    this.regOpt.stepCount = s.regStep;
  }

  /** Scalars: loss, objective (task or distillation loss), Lagrangian, expected sparsity, λ1, λ2. */
  step(step: number): Tensor {
    const onTarget = !this.transfer || this.taskRng.uniform() < this.pTarget;
    const data = onTarget ? this.target : this.transfer!;
    const l0 = onTarget ? this.masks.target : this.masks.transfer!;
    const indices = (onTarget ? this.samplers.target : this.samplers.transfer!).next();
    const distilled = this.teacher !== null && onTarget;
    this.last = { task: data.task.name, distilled };
    const scalars = E.tidy(() => {
      const batch = makeBatch(data.train, indices, data.task.isRegression);
      const sampled = l0.sample();
      const enc = this.model.encode(batch.inputs, { training: true, masks: sampled, outputHiddenStates: distilled });
      const pooled = E.dropout(this.model.pool(enc.sequence), this.model.config.hiddenDropout, true);
      const head = onTarget ? { weight: this.model.p('classifier.weight'), bias: this.model.p('classifier.bias') } : this.auxHead!;
      const logits = E.matmul(pooled, head.weight, { transB: true, bias: head.bias });
      const objective = distilled
        ? distillationLoss(this.settings.distill, { logits, hidden: enc.hiddenStates! }, this.teacherOutputs(batch.inputs), this.transformation!, sampled.headLayerZ ? E.concat(sampled.headLayerZ.map((z) => z!), 0) : null).loss
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
    this.auxHead?.weight.dispose();
    this.auxHead?.bias.dispose();
    this.transformation?.dispose();
    this.masks.dispose();
    this.lagrangian.dispose();
    this.weightsOpt.dispose();
    this.regOpt.dispose();
  }
}
