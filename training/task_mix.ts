/**
 * Training on a target task mixed with a transfer task (Dery, Hannun, Grangier): each step's batch
 * comes from the target with probability w_T / (w_T + w_A), else from the transfer task, whose
 * classifier (its own head on the shared pooler) is trained beside the model. Used by the pruning
 * phase (Prune(T, A)) and by fine-tuning (FT(T, A)).
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Task } from '../data/tasks.ts';
import type { Bert } from '../models/bert.ts';
import type { StructureMasks } from '../models/masks.ts';
import { BatchSampler, type EncodedSplit, type SamplerState } from './data.ts';

/** A task's training data. */
export interface TaskData {
  task: Task;
  train: EncodedSplit;
}

/** The transfer task's classifier: [C, P] weight and [C] bias over the pooled features. */
export class TransferHead {
  readonly weight: Tensor;
  readonly bias: Tensor;

  /** Initialised as transformers initialises a classifier: N(0, initializerRange²) weights, zero bias. */
  constructor(model: Bert, numLabels: number, seed: number) {
    const rng = new E.HostRandom(seed);
    const P = model.config.poolerSize ?? model.config.hiddenSize;
    this.weight = E.parameter(Float32Array.from({ length: numLabels * P }, () => model.config.initializerRange * rng.normal()), [numLabels, P], 'transfer.classifier.weight');
    this.bias = E.parameter(new Float32Array(numLabels), [numLabels], 'transfer.classifier.bias');
  }

  parameters(): Array<[string, Tensor]> {
    return [['transfer.classifier.weight', this.weight], ['transfer.classifier.bias', this.bias]];
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

export interface MixState {
  target: SamplerState;
  transfer: SamplerState | null;
  taskRng: number;
}

/** The batch stream of a target task, optionally mixed with a transfer task. */
export class TaskMix {
  private readonly samplers: { target: BatchSampler; transfer: BatchSampler | null };
  private readonly taskRng: E.HostRandom;
  private readonly pTarget: number;

  /**
   * @param seed the target sampler's seed; the transfer sampler takes seed + 1 and the task draw seed + 7
   * @param weights sampling weights of target and transfer batches
   */
  constructor(
    readonly target: TaskData,
    readonly transfer: TaskData | null,
    batchSize: number,
    seed: number,
    weights: readonly [number, number] = [1, 1],
  ) {
    this.samplers = { target: new BatchSampler(target.train.n, batchSize, seed), transfer: transfer ? new BatchSampler(transfer.train.n, batchSize, seed + 1) : null };
    this.taskRng = new E.HostRandom(seed + 7);
    this.pTarget = transfer ? weights[0] / (weights[0] + weights[1]) : 1;
  }

  /** The next batch's task and example indices. */
  next(): { onTarget: boolean; data: TaskData; indices: number[] } {
    const onTarget = !this.transfer || this.taskRng.uniform() < this.pTarget;
    const data = onTarget ? this.target : this.transfer!;
    return { onTarget, data, indices: (onTarget ? this.samplers.target : this.samplers.transfer!).next() };
  }

  state(): MixState {
    return { target: this.samplers.target.state(), transfer: this.samplers.transfer?.state() ?? null, taskRng: this.taskRng.position };
  }

  restore(s: MixState): void {
    this.samplers.target.restore(s.target);
    if (this.samplers.transfer && s.transfer) this.samplers.transfer.restore(s.transfer);
    this.taskRng.position = s.taskRng;
  }
}

/**
 * Logits of a batch on the target's classifier or the transfer head, with dropout on the pooled
 * features as BertForSequenceClassification applies it. Shapes: logits [B, numLabels].
 */
export function mixedLogits(model: Bert, inputs: Parameters<Bert['encode']>[0], head: TransferHead | null, options: { masks?: StructureMasks; outputHiddenStates?: boolean }): { logits: Tensor; hidden: Tensor[] | undefined } {
  const enc = model.encode(inputs, { training: true, masks: options.masks, outputHiddenStates: options.outputHiddenStates });
  const pooled = E.dropout(model.pool(enc.sequence), model.config.hiddenDropout, true);
  const w = head ? { weight: head.weight, bias: head.bias } : { weight: model.p('classifier.weight'), bias: model.p('classifier.bias') };
  return { logits: E.matmul(pooled, w.weight, { transB: true, bias: w.bias }), hidden: enc.hiddenStates };
}
