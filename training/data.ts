/**
 * Task examples as model inputs: tokenised once, then served in (shuffled) batches of GPU tensors.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Example, Task } from '../data/tasks.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import type { BertInputs } from '../models/bert.ts';

/** A tokenised split: flat [n × maxLength] arrays plus labels. */
export interface EncodedSplit {
  n: number;
  maxLength: number;
  inputIds: Int32Array;
  tokenTypeIds: Int32Array;
  attentionMask: Int32Array;
  /** Real (non-padding) tokens per example. */
  lengths: Int32Array;
  /** Class index or regression target per example (NaN when unlabeled). */
  labels: Float64Array;
}

/** Tokenises examples as `[CLS] a [SEP] b [SEP]`, truncated longest-first and padded to maxLength. */
export function encodeSplit(tokenizer: BertTokenizer, examples: readonly Example[], maxLength: number): EncodedSplit {
  const batch = tokenizer.encodeBatch(examples, maxLength);
  const lengths = new Int32Array(examples.length);
  for (let i = 0; i < examples.length; i++) {
    let len = 0;
    for (let j = 0; j < maxLength; j++) len += batch.attentionMask[i * maxLength + j]!;
    lengths[i] = len;
  }
  return {
    n: examples.length,
    maxLength,
    inputIds: batch.inputIds,
    tokenTypeIds: batch.tokenTypeIds,
    attentionMask: batch.attentionMask,
    lengths,
    labels: Float64Array.from(examples, (e) => e.label),
  };
}

/** Model inputs and labels of one batch. */
export interface Batch {
  inputs: BertInputs;
  /** [B] i32 class indices, or [B] f32 regression targets. */
  labels: Tensor;
  size: number;
}

/**
 * GPU tensors for the examples at `indices`, with sequences cut to the longest real length among
 * them (padding beyond it changes nothing but costs compute; CoFi's trainer does the same).
 */
export function makeBatch(split: EncodedSplit, indices: readonly number[], regression: boolean): Batch {
  const L = split.maxLength;
  let S = 1;
  for (const i of indices) S = Math.max(S, split.lengths[i]!);
  const B = indices.length;
  const ids = new Int32Array(B * S);
  const types = new Int32Array(B * S);
  const mask = new Float32Array(B * S);
  indices.forEach((i, r) => {
    for (let s = 0; s < S; s++) {
      ids[r * S + s] = split.inputIds[i * L + s]!;
      types[r * S + s] = split.tokenTypeIds[i * L + s]!;
      mask[r * S + s] = split.attentionMask[i * L + s]!;
    }
  });
  const labelValues = indices.map((i) => split.labels[i]!);
  return {
    inputs: { inputIds: E.tensor(ids, [B, S], 'i32'), tokenTypeIds: E.tensor(types, [B, S], 'i32'), attentionMask: E.tensor(mask, [B, S]) },
    labels: regression ? E.tensor(labelValues, [B]) : E.tensor(labelValues, [B], 'i32'),
    size: B,
  };
}

/** The serialisable position of a BatchSampler. */
export interface SamplerState {
  epoch: number;
  cursor: number;
  rng: number;
  order: number[];
}

/**
 * Batches of example indices in a seeded random order, reshuffled every epoch; its state can be
 * saved and restored so a resumed run sees exactly the batches an uninterrupted one would.
 */
export class BatchSampler {
  private order: number[] = [];
  private cursor = 0;
  epoch = 0;
  private readonly rng: E.HostRandom;

  constructor(
    readonly n: number,
    readonly batchSize: number,
    seed: number,
  ) {
    if (n === 0) throw new Error('BatchSampler: no examples');
    this.rng = new E.HostRandom(seed);
    this.reshuffle();
  }

  private reshuffle(): void {
    this.order = this.rng.shuffle([...Array(this.n).keys()]);
    this.cursor = 0;
  }

  /** The next batch (the last batch of an epoch may be smaller). */
  next(): number[] {
    if (this.cursor >= this.n) {
      this.epoch++;
      this.reshuffle();
    }
    const batch = this.order.slice(this.cursor, this.cursor + this.batchSize);
    this.cursor += batch.length;
    return batch;
  }

  /** Batches per epoch. */
  get batchesPerEpoch(): number {
    return Math.ceil(this.n / this.batchSize);
  }

  state(): SamplerState {
    return { epoch: this.epoch, cursor: this.cursor, rng: this.rng.position, order: [...this.order] };
  }

  restore(s: SamplerState): void {
    this.epoch = s.epoch;
    this.cursor = s.cursor;
    this.rng.position = s.rng;
    this.order = [...s.order];
  }
}

/** Loss of a task head: cross-entropy for classification, MSE for regression. Shapes: logits [B, numLabels]. */
export function taskLoss(task: Pick<Task, 'isRegression'>, logits: Tensor, labels: Tensor): Tensor {
  return task.isRegression ? E.mseLoss(logits, labels) : E.crossEntropy(logits, labels);
}
