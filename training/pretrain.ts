/**
 * Masked-language-model pretraining of a BERT encoder (Devlin et al. 2019, §3.1 Task #1), with the
 * corpus packed into fixed-length sequences (data/corpus.ts) and masks drawn anew every time a
 * sequence is used (data/mlm.ts: 15% of tokens, 80/10/10 [MASK]/random/same). The loss is
 * cross-entropy over the masked positions only: they are host data, so they are gathered on the
 * host and only their rows go through the MLM head.
 *
 * AdamW (no decay on biases and layer-norm weights), linear warmup then linear decay to 0 at
 * `steps`, gradient clipping. Every `checkpointEvery` steps the model is written as a transformers
 * checkpoint to `out/` and the whole run state (parameters, AdamW moments, step, packer position,
 * masking RNG position, dropout RNG state, the loss window) to `out/checkpoint/`, atomically, so a
 * run stopped anywhere resumes exactly: the resumed loss trajectory equals the uninterrupted one.
 * Short runs chain into one long one (e.g. 10-minute GPU sessions) with `stopAt`/`timeLimitSeconds`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { type PackerState, type PretokenizeProgress, SequencePacker, pretokenize } from '../data/corpus.ts';
import { IGNORE_INDEX, type MaskingVocab, maskTokens } from '../data/mlm.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import { Bert } from '../models/bert.ts';
import type { BertConfig } from '../models/config.ts';
import { saveCheckpoint } from '../models/io/checkpoint.ts';
import { decays } from './finetune.ts';
import { MetricsLog, Progress } from './log.ts';
import { hasRunState, loadRunState, saveRunState } from './run_state.ts';

/** Hyper-parameters of a pretraining run. Those marked (trajectory) must not change on resume. */
export interface PretrainOptions {
  /** Total optimizer steps; the schedule decays to 0 here (trajectory). */
  steps: number;
  /** Sequences per step (trajectory). */
  batchSize: number;
  /** Tokens per sequence, [CLS] and [SEP] included (trajectory). */
  maxSeqLength: number;
  /** Peak learning rate (trajectory). */
  lr: number;
  /** Linear warmup steps; default max(1, round(1% of steps)) (trajectory). */
  warmupSteps?: number;
  /** AdamW weight decay of the decayed group (trajectory). */
  weightDecay: number;
  /** Global gradient-norm clipping; default 1 (trajectory). */
  maxGradNorm?: number;
  /** Fraction of tokens chosen for prediction; default 0.15 (trajectory). */
  maskProb?: number;
  /** Seeds the initial weights, the packing order, the masks and dropout (trajectory). */
  seed: number;
  /** Held-out loss every n steps (and at the end); 0: only at the end. */
  evalEvery: number;
  /** Held-out sequences evaluated (a fixed sample of the held-out file, fixed masks); default 500. */
  evalSequences?: number;
  /** Checkpoint every n steps (and at the end and when stopping early); 0: only then. */
  checkpointEvery: number;
  /** metrics.jsonl train records every n steps (default 10): the mean loss over those steps. */
  logEvery?: number;
  /** Stop (after checkpointing) once this step is reached, without ending the schedule. */
  stopAt?: number;
  /** Start no further step once this many seconds of training have passed (then checkpoint and stop). */
  timeLimitSeconds?: number;
}

/** Where a pretraining run reads and writes. */
export interface PretrainSetup {
  /** Model shape; vocabSize must equal the tokenizer's (trajectory). */
  config: BertConfig;
  /** Training corpus files (.txt / .txt.gz), in order. */
  trainFiles: readonly string[];
  /** Held-out corpus file for the evaluation loss; none: no evaluation. */
  validFile?: string;
  tokenizer: BertTokenizer;
  /**
   * Output directory: the model (config.json, model.safetensors, tokenizer files), metrics.jsonl,
   * checkpoint/ (run state) and summary.json.
   */
  out: string;
  /** Token cache directory (default out/token-cache). */
  cacheDir?: string;
  /** Continue from out/checkpoint (a fresh run when there is none). */
  resume?: boolean;
  progressLabel?: string;
  /** Messages for the user (pretokenization, resume, evaluation); default: stderr. */
  info?: (message: string) => void;
  /** Called after every step with its 1-based number, before evaluation and checkpoints; a throw aborts the run. */
  onStep?: (step: number, model: Bert) => void;
}

export interface PretrainResult {
  /** The step reached. */
  step: number;
  steps: number;
  /** Why the run ended before `steps`: 'stop-at', 'time-limit' or 'signal'; null when complete. */
  stopped: 'stop-at' | 'time-limit' | 'signal' | null;
  /** Mean training loss of the last logged window (NaN when nothing was logged). */
  trainLoss: number;
  /** Last held-out loss (NaN without evaluation). */
  validLoss: number;
  /** Seconds spent in this invocation's training loop, and its steps per second. */
  seconds: number;
  stepsPerSecond: number;
  /** Seconds spent tokenizing (or checking the cache of) the corpus. */
  pretokenizeSeconds: number;
}

/** The run state's JSON part (the tensors are the parameters, the AdamW moments and the loss window). */
interface PretrainState {
  version: 1;
  step: number;
  optimizerStep: number;
  packer: PackerState;
  /** Position of the masking HostRandom. */
  maskRng: number;
  /** Engine RNG (dropout). */
  engineRng: { seed: string; counter: string };
  /** Steps accumulated in the loss window tensor since the last train record. */
  windowSteps: number;
  /** Everything that fixes the trajectory: a resume must match it. */
  trajectory: Record<string, unknown>;
}

/**
 * Held-out sequences (a fixed random sample of the held-out file) and masks do not depend on the
 * run's seed, so runs with different seeds are scored on the same positions.
 */
export const EVAL_SEED = 0x6d6c6d;
/** Masking RNG key: the run seed offset so it is not the packer's or the weights' stream. */
const maskSeed = (seed: number) => seed + 0x3c6ef372 * 2 ** 20;
const WINDOW = 'train_loss_window';

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

/** Keeps the records of a metrics.jsonl up to `step` (a resumed run rewrites what follows). */
function truncateMetrics(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => {
      if (line.trim() === '') return false;
      try {
        const s = (JSON.parse(line) as { step?: unknown }).step;
        return typeof s !== 'number' || s <= step;
      } catch {
        return false;
      }
    });
  fs.writeFileSync(file, kept.map((l) => `${l}\n`).join(''));
}

/** Differences between a saved trajectory and this run's, as "key: saved → now". */
function trajectoryMismatch(saved: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(saved), ...Object.keys(now)]);
  return [...keys].filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k])).map((k) => `${k}: ${JSON.stringify(saved[k])} → ${JSON.stringify(now[k])}`);
}

/**
 * Pretrains a model of `setup.config` (MLM head) from random weights, or resumes the run in
 * `setup.out/checkpoint`.
 * @throws Error when the loss becomes NaN/Inf (the message gives the step; the last checkpoint is
 *   kept), when out/ holds a checkpoint and resume is off, when a resumed run's settings differ from
 *   the checkpoint's, or when the vocabulary sizes of tokenizer and config differ.
 */
export async function pretrain(setup: PretrainSetup, options: PretrainOptions): Promise<PretrainResult> {
  const info = setup.info ?? ((m: string) => process.stderr.write(`${m}\n`));
  const { config, tokenizer, out } = setup;
  const { steps, batchSize, maxSeqLength: L } = options;
  if (!(Number.isInteger(steps) && steps > 0)) throw new Error(`pretrain: steps must be a positive integer (got ${steps})`);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`pretrain: batch size must be a positive integer (got ${batchSize})`);
  if (config.vocabSize !== tokenizer.vocabSize) throw new Error(`pretrain: the config has ${config.vocabSize} ids, the tokenizer ${tokenizer.vocabSize}`);
  if (L > config.maxPositionEmbeddings) throw new Error(`pretrain: max sequence length ${L} exceeds max_position_embeddings ${config.maxPositionEmbeddings}`);
  const warmup = options.warmupSteps ?? defaultWarmup(steps);
  const maskProb = options.maskProb ?? 0.15;
  const maxGradNorm = options.maxGradNorm ?? 1;
  const logEvery = options.logEvery ?? 10;
  const trajectory: Record<string, unknown> = {
    steps, batchSize, maxSeqLength: L, lr: options.lr, warmupSteps: warmup, weightDecay: options.weightDecay, maxGradNorm, maskProb, seed: options.seed, config,
  };

  const stateDir = path.join(out, 'checkpoint');
  const metricsFile = path.join(out, 'metrics.jsonl');
  const resuming = setup.resume === true && hasRunState(stateDir);
  if (!setup.resume && hasRunState(stateDir)) throw new Error(`${out} already holds a run checkpoint (${stateDir}): pass --resume to continue it, or choose another output directory`);
  if (setup.resume && !resuming) info(`no checkpoint in ${stateDir}: starting a fresh run`);
  fs.mkdirSync(out, { recursive: true });

  // Corpus → token shards → packed sequences.
  const cacheDir = setup.cacheDir ?? path.join(out, 'token-cache');
  const t0 = performance.now();
  const report = (p: PretokenizeProgress) =>
    info(`${p.cached ? 'cached ' : 'tokenized'} ${path.basename(p.source)}: ${p.numTokens.toLocaleString('en-US')} tokens, ${p.numDocuments.toLocaleString('en-US')} documents (${p.seconds.toFixed(1)} s)`);
  const shards = await pretokenize(setup.trainFiles, tokenizer, cacheDir, { onProgress: report });
  const validShards = setup.validFile ? await pretokenize([setup.validFile], tokenizer, cacheDir, { onProgress: report }) : [];
  const pretokenizeSeconds = (performance.now() - t0) / 1000;
  const packer = new SequencePacker(shards, { maxSeqLength: L, seed: options.seed, clsId: tokenizer.clsId, sepId: tokenizer.sepId });
  const heldOut = validShards.length
    ? heldOutSet(new SequencePacker(validShards, { maxSeqLength: L, seed: EVAL_SEED, clsId: tokenizer.clsId, sepId: tokenizer.sepId }), tokenizer, options.evalSequences ?? 500, L)
    : undefined;
  info(`corpus: ${packer.sequencesPerEpoch.toLocaleString('en-US')} sequences of ${L} tokens per epoch (${(steps * batchSize / packer.sequencesPerEpoch).toFixed(2)} epochs in ${steps} steps); ` +
    (heldOut ? `held-out: ${heldOut.sequences} sequences` : 'no held-out file: no evaluation'));

  // Model, optimizer, random streams.
  const model = Bert.random(config, 'mlm', options.seed);
  const trainable = [...model.params].filter(([, t]) => t.requiresGrad);
  const opt = new E.AdamW(
    [
      { params: trainable.filter(([n]) => decays(n)).map(([, t]) => t), lr: options.lr, weightDecay: options.weightDecay, name: 'decay' },
      { params: trainable.filter(([n]) => !decays(n)).map(([, t]) => t), lr: options.lr, weightDecay: 0, name: 'no_decay' },
    ],
    { maxGradNorm },
  );
  const maskRng = new E.HostRandom(maskSeed(options.seed));
  E.getEngine().setSeed(options.seed);
  let window = E.keep(E.zeros([1]));
  let windowSteps = 0;
  const stateTensors = (): Map<string, Tensor> => new Map([...trainable, ...opt.stateTensors(), [WINDOW, window]]);
  let step = 0;
  if (resuming) {
    try {
      // Settings first (a clearer message than a tensor shape mismatch), then the tensors.
      const saved = (JSON.parse(fs.readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as PretrainState).trajectory ?? {};
      const diff = trajectoryMismatch(saved, trajectory);
      if (diff.length) throw new Error(`cannot resume ${stateDir}: the run was started with other settings (${diff.join('; ')})`);
      const state = loadRunState<PretrainState>(stateDir, stateTensors());
      step = state.step;
      opt.stepCount = state.optimizerStep;
      packer.restore(state.packer);
      maskRng.position = state.maskRng;
      E.getEngine().restoreRngState(state.engineRng);
      windowSteps = state.windowSteps;
    } catch (err) {
      opt.dispose();
      model.dispose();
      window.dispose();
      throw err;
    }
    truncateMetrics(metricsFile, step);
    info(`resumed from ${stateDir} at step ${step}`);
  }
  const log = new MetricsLog(metricsFile, resuming);

  const lrAt = (s: number) => options.lr * E.linearWarmupDecay(s, warmup, steps);
  const nanError = (value: number, at: number) =>
    new Error(`loss is ${value} at step ${at}${hasRunState(stateDir) ? `; the last checkpoint in ${stateDir} is kept` : ''}`);
  /** Reads the loss window: the mean over its steps; resets it. @throws Error on NaN/Inf */
  const flushWindow = async (at: number): Promise<number> => {
    const mean = (await window.item()) / windowSteps;
    if (!Number.isFinite(mean)) throw nanError(mean, at);
    window.dispose();
    window = E.keep(E.zeros([1]));
    windowSteps = 0;
    return mean;
  };
  const checkpoint = async () => {
    // Never write a checkpoint from a diverged run.
    if (windowSteps > 0) {
      const v = await window.item();
      if (!Number.isFinite(v)) throw nanError(v, step);
    }
    const values = await model.values();
    for (const [name, v] of values) {
      if (!v.data.every(Number.isFinite)) throw new Error(`parameter ${name} is not finite after step ${step}${hasRunState(stateDir) ? `; the last checkpoint in ${stateDir} is kept` : ''}`);
    }
    saveCheckpoint(out, config, values, { tokenizer });
    const state: PretrainState = {
      version: 1, step, optimizerStep: opt.stepCount, packer: packer.state(), maskRng: maskRng.position, engineRng: E.getEngine().rngState(), windowSteps, trajectory,
    };
    await saveRunState(stateDir, stateTensors(), state);
  };

  let stopped: PretrainResult['stopped'] = null;
  const onSignal = () => {
    stopped = 'signal';
    info('stopping after this step (checkpoint follows); signal again to abort');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = new Progress(setup.progressLabel ?? 'pretrain', steps, step);
  const started = performance.now();
  const startStep = step;
  let trainLoss = Number.NaN;
  let validLoss = Number.NaN;
  let inFlight: Promise<void> = Promise.resolve();
  try {
    if (step >= steps) info(`the run in ${stateDir} is complete (${steps} steps): nothing to do`);
    while (step < steps) {
      const ids = packer.nextBatch(batchSize);
      const { inputIds, labels } = maskTokens(ids, tokenizer, maskRng, { maskProb, seqLength: L });
      const factor = E.linearWarmupDecay(step, warmup, steps);
      const next = E.tidy(() => {
        const { loss } = mlmLoss(model, inputIds, labels, batchSize, L, true);
        E.backward(loss);
        opt.step(factor);
        opt.zeroGrad();
        return E.noGrad(() => E.add(window, loss));
      });
      window.dispose();
      window = E.keep(next);
      windowSteps++;
      step++;
      E.profileStep(); // --profile wiring: a step of the engine profiler (no-op unless profiling)
      // Keep the GPU at most one step behind: the time limit then measures finished work, signals
      // are seen every step, and there is no pipeline bubble.
      const previous = inFlight;
      inFlight = E.getEngine().sync();
      await previous;
      if (step % logEvery === 0 || step === steps) {
        trainLoss = await flushWindow(step);
        log.write({ step, loss: trainLoss, lr: lrAt(step - 1) });
        progress.update(step, { loss: trainLoss });
      }
      setup.onStep?.(step, model);
      if (step === steps || (options.evalEvery > 0 && step % options.evalEvery === 0)) {
        if (heldOut) {
          validLoss = await heldOutLoss(model, heldOut, batchSize);
          log.write({ step, valid_loss: validLoss });
          if (!Number.isFinite(validLoss)) throw nanError(validLoss, step);
        }
      }
      if (stopped === null && options.stopAt !== undefined && step >= options.stopAt && step < steps) stopped = 'stop-at';
      if (stopped === null && options.timeLimitSeconds !== undefined && (performance.now() - started) / 1000 >= options.timeLimitSeconds && step < steps) stopped = 'time-limit';
      if (step === steps || stopped !== null || (options.checkpointEvery > 0 && step % options.checkpointEvery === 0)) await checkpoint();
      if (stopped !== null) break;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.stop();
    opt.dispose();
    window.dispose();
    model.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  const result: PretrainResult = {
    step, steps, stopped, trainLoss, validLoss, seconds, stepsPerSecond: seconds > 0 ? (step - startStep) / seconds : 0, pretokenizeSeconds,
  };
  if (stopped) info(`stopped at step ${step} of ${steps} (${stopped}); continue with --resume`);
  fs.writeFileSync(path.join(out, 'summary.json'), `${JSON.stringify({ ...result, startStep }, null, 2)}\n`);
  return result;
}
