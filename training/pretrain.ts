/**
 * Masked-language-model pretraining of a BERT encoder (Devlin et al. 2019, §3.1 Task #1), with the
 * corpus packed into fixed-length sequences (data/corpus.ts) and masks drawn anew every time a
 * sequence is used (data/mlm.ts: 15% of tokens, 80/10/10 [MASK]/random/same). The loss is
 * cross-entropy over the masked positions only: they are host data, so they are gathered on the
 * host and only their rows go through the MLM head.
 *
 * PretrainPhase is the training phase the run loop drives (jobs/pretrain.ts): AdamW (no decay on
 * biases and layer-norm weights), linear warmup then linear decay to 0 at the last step, gradient
 * clipping; its checkpoint state is the packer position and the masking RNG, so a resumed run sees
 * exactly the batches and masks an uninterrupted one would. The held-out loss is evaluated every
 * `evalEvery` steps on a fixed sample with fixed masks.
 */
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { type PackerState, type PretokenizeProgress, SequencePacker, pretokenize } from '../data/corpus.ts';
import { IGNORE_INDEX, type MaskingVocab, maskTokens } from '../data/mlm.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import type { Bert } from '../models/bert.ts';
import { modelOptimizer } from './finetune.ts';
import type { TrainingPhase } from './run/loop.ts';
import type { MetricsLog } from './run/metrics_log.ts';

/**
 * Held-out sequences (a fixed random sample of the held-out file) and masks do not depend on the
 * run's seed, so runs with different seeds are scored on the same positions.
 */
export const EVAL_SEED = 0x6d6c6d;
/** Masking RNG key: the run seed offset so it is not the packer's or the weights' stream. */
const maskSeed = (seed: number) => seed + 0x3c6ef372 * 2 ** 20;

/** Default warmup: 1% of the steps, at least 1. */
export function defaultWarmup(steps: number): number {
  return Math.max(1, Math.round(0.01 * steps));
}

/** The masked positions (flat indices) of a labels array and their labels. */
export function maskedPositions(labels: Int32Array): { positions: Int32Array; targets: Int32Array } {
  let m = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== IGNORE_INDEX) m++;
  const positions = new Int32Array(m);
  const targets = new Int32Array(m);
  m = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== IGNORE_INDEX) {
      positions[m] = i;
      targets[m++] = labels[i]!;
    }
  }
  return { positions, targets };
}

/**
 * Mean MLM cross-entropy of one masked batch (flat [B × S] ids and labels), and the number of
 * predicted positions. Call inside a scope.
 * @throws Error when no position is masked
 */
export function mlmLoss(model: Bert, inputIds: Int32Array, labels: Int32Array, batch: number, seqLength: number, training: boolean): { loss: Tensor; count: number } {
  const { positions, targets } = maskedPositions(labels);
  if (positions.length === 0) throw new Error('mlmLoss: no masked position in the batch');
  const { sequence } = model.encode({ inputIds: E.tensor(inputIds, [batch, seqLength], 'i32') }, { training });
  const logits = model.mlmLogits(sequence, E.tensor(positions, [positions.length], 'i32'));
  return { loss: E.crossEntropy(logits, E.tensor(targets, [targets.length], 'i32')), count: positions.length };
}

/** A fixed held-out set: sequences with their masks, evaluated in batches. */
export interface HeldOut {
  inputIds: Int32Array;
  labels: Int32Array;
  sequences: number;
  seqLength: number;
}

/**
 * `sequences` packed sequences of a packer (for a held-out set: one that shuffles with a fixed seed,
 * so they are spread over the whole file) with masks from a fixed seed.
 */
export function heldOutSet(packer: SequencePacker, vocab: MaskingVocab, sequences: number, seqLength: number): HeldOut {
  const n = Math.min(sequences, packer.sequencesPerEpoch);
  const ids = packer.nextBatch(n);
  const { inputIds, labels } = maskTokens(ids, vocab, new E.HostRandom(EVAL_SEED), { seqLength });
  return { inputIds, labels, sequences: n, seqLength };
}

/**
 * Mean cross-entropy over every masked position of the held-out set (no dropout, no gradients,
 * no random stream consumed).
 */
export async function heldOutLoss(model: Bert, set: HeldOut, batchSize: number): Promise<number> {
  let total = 0;
  let count = 0;
  const L = set.seqLength;
  for (let start = 0; start < set.sequences; start += batchSize) {
    const b = Math.min(batchSize, set.sequences - start);
    const ids = set.inputIds.subarray(start * L, (start + b) * L);
    const labels = set.labels.subarray(start * L, (start + b) * L);
    if (!labels.some((v) => v !== IGNORE_INDEX)) continue;
    const out = E.noGrad(() => E.tidy(() => mlmLoss(model, ids, labels, b, L, false)));
    total += (await out.loss.item()) * out.count;
    count += out.count;
    out.loss.dispose();
  }
  return count === 0 ? Number.NaN : total / count;
}

/** The corpus of a run: packed training sequences and the held-out set. */
export interface PretrainCorpus {
  packer: SequencePacker;
  heldOut?: HeldOut;
  /** Seconds spent tokenizing (or checking the cache of) the corpus. */
  pretokenizeSeconds: number;
}

/**
 * Tokenizes the corpus files once into a cache (reused while files and tokenizer are unchanged) and
 * packs them into sequences of `seqLength` tokens; the held-out file gives a fixed sample of
 * `evalSequences` sequences with fixed masks.
 * @throws Error naming a corpus file that cannot be read
 */
export async function prepareCorpus(
  files: { train: readonly string[]; valid?: string; cacheDir: string },
  tokenizer: BertTokenizer,
  options: { seqLength: number; seed: number; evalSequences: number },
  info: (message: string) => void,
): Promise<PretrainCorpus> {
  const t0 = performance.now();
  const report = (p: PretokenizeProgress) =>
    info(`${p.cached ? 'cached ' : 'tokenized'} ${path.basename(p.source)}: ${p.numTokens.toLocaleString('en-US')} tokens, ${p.numDocuments.toLocaleString('en-US')} documents (${p.seconds.toFixed(1)} s)`);
  const shards = await pretokenize(files.train, tokenizer, files.cacheDir, { onProgress: report });
  const validShards = files.valid ? await pretokenize([files.valid], tokenizer, files.cacheDir, { onProgress: report }) : [];
  const L = options.seqLength;
  const packer = new SequencePacker(shards, { maxSeqLength: L, seed: options.seed, clsId: tokenizer.clsId, sepId: tokenizer.sepId });
  const heldOut = validShards.length
    ? heldOutSet(new SequencePacker(validShards, { maxSeqLength: L, seed: EVAL_SEED, clsId: tokenizer.clsId, sepId: tokenizer.sepId }), tokenizer, options.evalSequences, L)
    : undefined;
  return { packer, heldOut, pretokenizeSeconds: (performance.now() - t0) / 1000 };
}

export interface PretrainSettings {
  steps: number;
  batchSize: number;
  seqLength: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  maxGradNorm: number;
  /** Fraction of tokens chosen for prediction. */
  maskProb: number;
  /** Seeds the masks and the engine's random stream (dropout). */
  seed: number;
  /** Held-out loss every n steps (and at the end); 0: only at the end. */
  evalEvery: number;
}

interface PretrainState {
  optimizerStep: number;
  packer: PackerState;
  /** Position of the masking HostRandom. */
  maskRng: number;
  validLoss: number;
  trainLoss: number;
}

/** MLM pretraining of `model` (an MLM head) on a packed corpus. */
export class PretrainPhase implements TrainingPhase {
  readonly name = 'pretrain';
  readonly logMode = 'mean';
  readonly scalarCount = 1;
  readonly totalSteps: number;
  /** The last held-out loss (NaN before the first evaluation or without a held-out set). */
  validLoss = Number.NaN;
  /** The mean training loss of the last metrics row (NaN before the first). */
  trainLoss = Number.NaN;
  /** Called after each checkpoint (the job saves a model snapshot). */
  onCheckpoint?: (step: number) => Promise<void>;
  private readonly opt: E.AdamW;
  private readonly maskRng: E.HostRandom;

  /** Sets the engine's random stream to settings.seed (a resumed run restores it afterwards). */
  constructor(
    private readonly model: Bert,
    private readonly tokenizer: BertTokenizer,
    private readonly corpus: PretrainCorpus,
    private readonly settings: PretrainSettings,
    private readonly metrics: MetricsLog,
  ) {
    this.totalSteps = settings.steps;
    this.opt = modelOptimizer(model.params, settings.lr, settings.weightDecay, settings.maxGradNorm);
    this.maskRng = new E.HostRandom(maskSeed(settings.seed));
    E.getEngine().setSeed(settings.seed);
  }

  stateTensors(): ReadonlyMap<string, Tensor> {
    return new Map([...[...this.model.params].filter(([, t]) => t.requiresGrad), ...this.opt.stateTensors()]);
  }

  saveState(): PretrainState {
    return { optimizerStep: this.opt.stepCount, packer: this.corpus.packer.state(), maskRng: this.maskRng.position, validLoss: this.validLoss, trainLoss: this.trainLoss };
  }

  restoreState(state: unknown): void {
    const s = state as PretrainState;
    this.opt.stepCount = s.optimizerStep;
    this.corpus.packer.restore(s.packer);
    this.maskRng.position = s.maskRng;
    this.validLoss = s.validLoss ?? Number.NaN;
    this.trainLoss = s.trainLoss ?? Number.NaN;
  }

  private lrFactor(step: number): number {
    return E.linearWarmupDecay(step, this.settings.warmupSteps, this.totalSteps);
  }

  step(step: number): Tensor {
    const { batchSize, seqLength, maskProb } = this.settings;
    const ids = this.corpus.packer.nextBatch(batchSize);
    const { inputIds, labels } = maskTokens(ids, this.tokenizer, this.maskRng, { maskProb, seqLength });
    const factor = this.lrFactor(step);
    return E.tidy(() => {
      const { loss } = mlmLoss(this.model, inputIds, labels, batchSize, seqLength, true);
      E.backward(loss);
      this.opt.step(factor);
      this.opt.zeroGrad();
      return E.reshape(loss, [1]);
    });
  }

  record(step: number, values: readonly number[]): Record<string, unknown> {
    this.trainLoss = values[0]!;
    return { loss: values[0], lr: this.settings.lr * this.lrFactor(step - 1) };
  }

  /**
   * The held-out loss at evaluation steps.
   * @throws Error when it is not finite
   */
  async afterStep(step: number): Promise<void> {
    const { evalEvery, batchSize } = this.settings;
    if (!this.corpus.heldOut || (step !== this.totalSteps && !(evalEvery > 0 && step % evalEvery === 0))) return;
    this.validLoss = await heldOutLoss(this.model, this.corpus.heldOut, batchSize);
    this.metrics.write({ phase: this.name, step, valid_loss: this.validLoss });
    if (!Number.isFinite(this.validLoss)) throw new Error(`held-out loss is ${this.validLoss} at pretrain step ${step}`);
  }

  dispose(): void {
    this.opt.dispose();
  }
}
