/**
 * Fine-tuning a classifier/regressor on one task: AdamW with transformers' defaults (no weight decay
 * on biases and layer-norm weights, gradient clipping at 1), linear warmup and decay, dropout,
 * evaluation every N steps, the best checkpoint kept, and resumable from a run-state checkpoint.
 */
import * as fs from 'node:fs';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Task } from '../data/tasks.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import type { Bert } from '../models/bert.ts';
import { saveModel } from '../models/load.ts';
import { BatchSampler, type EncodedSplit, type SamplerState, makeBatch, taskLoss } from './data.ts';
import { evaluate } from './evaluate.ts';
import { type MetricsLog, Progress } from './log.ts';
import { hasRunState, loadRunState, saveRunState } from './run_state.ts';

export interface FinetuneOptions {
  /** Optimizer steps; derived from epochs when absent. */
  steps?: number;
  epochs?: number;
  lr: number;
  batchSize: number;
  /** Fraction of the steps spent warming up (default 0.1 when warmupSteps is absent). */
  warmupRatio?: number;
  warmupSteps?: number;
  weightDecay: number;
  /** Evaluate every this many steps (and at the end); 0: only at the end. */
  evalEvery: number;
  seed: number;
  maxGradNorm?: number;
  /** Evaluation batch size (default 2 × batchSize). */
  evalBatchSize?: number;
}

export interface FinetuneIO {
  /** Where the best model is saved (HF checkpoint directory); nothing is saved when absent. */
  bestDir?: string;
  tokenizer?: BertTokenizer;
  log?: MetricsLog;
  /** Run-state checkpoint directory, written every checkpointEvery steps. */
  stateDir?: string;
  checkpointEvery?: number;
  /** Resume from stateDir when it holds a checkpoint. */
  resume?: boolean;
  progressLabel?: string;
  /** Fields added to every metrics.jsonl record (e.g. {phase: 'finetune'}). */
  tag?: Record<string, unknown>;
  /**
   * Steps this process may still take (shared with other phases); at 0 the run checkpoints to
   * stateDir and returns with `stopped` set, to be continued with resume.
   */
  stepBudget?: { remaining: number };
}

export interface FinetuneResult {
  /** True when the step budget ran out before the last step (a checkpoint was written). */
  stopped?: boolean;
  /** Dev metrics of the best evaluation (by the task's main metric). */
  best: Record<string, number>;
  bestStep: number;
  steps: number;
  /** Dev metrics at the last step. */
  final: Record<string, number>;
}

interface FinetuneState {
  step: number;
  sampler: SamplerState;
  rng: { seed: string; counter: string };
  optimizerStep: number;
  best: Record<string, number> | null;
  bestStep: number;
}

/** transformers' rule: no weight decay for biases and layer-norm weights. */
export function decays(name: string): boolean {
  return !(name.endsWith('.bias') || name.includes('LayerNorm.'));
}

/** Number of optimizer steps for the options and a training set size. */
export function totalSteps(options: Pick<FinetuneOptions, 'steps' | 'epochs' | 'batchSize'>, trainSize: number): number {
  if (options.steps !== undefined) return options.steps;
  return Math.max(1, Math.round((options.epochs ?? 3) * Math.ceil(trainSize / options.batchSize)));
}

/**
 * Trains `model` (its trainable parameters) on the task and evaluates on dev.
 * @throws Error when the loss becomes NaN (the message gives the step; the last run-state
 *   checkpoint, if any, is kept)
 */
export async function finetune(model: Bert, task: Task, train: EncodedSplit, dev: EncodedSplit, options: FinetuneOptions, io: FinetuneIO = {}): Promise<FinetuneResult> {
  const steps = totalSteps(options, train.n);
  const warmup = options.warmupSteps ?? Math.round((options.warmupRatio ?? 0.1) * steps);
  const trainable = [...model.params].filter(([, t]) => t.requiresGrad);
  const opt = new E.AdamW(
    [
      { params: trainable.filter(([n]) => decays(n)).map(([, t]) => t), lr: options.lr, weightDecay: options.weightDecay, name: 'decay' },
      { params: trainable.filter(([n]) => !decays(n)).map(([, t]) => t), lr: options.lr, weightDecay: 0, name: 'no_decay' },
    ],
    { maxGradNorm: options.maxGradNorm ?? 1 },
  );
  const sampler = new BatchSampler(train.n, options.batchSize, options.seed);
  const stateTensors = (): Map<string, Tensor> => new Map([...trainable, ...opt.stateTensors()]);
  let state: FinetuneState = { step: 0, sampler: sampler.state(), rng: E.getEngine().rngState(), optimizerStep: 0, best: null, bestStep: -1 };
  if (io.resume && io.stateDir && hasRunState(io.stateDir)) {
    state = loadRunState<FinetuneState>(io.stateDir, stateTensors());
    sampler.restore(state.sampler);
    E.getEngine().restoreRngState(state.rng);
    opt.stepCount = state.optimizerStep;
  }
  const mainMetric = task.metricNames[0]!;
  const evalBatch = options.evalBatchSize ?? 2 * options.batchSize;
  const progress = new Progress(io.progressLabel ?? 'finetune', steps, state.step);
  let final: Record<string, number> = {};
  const checkpoint = async () => {
    if (!io.stateDir) return;
    state.sampler = sampler.state();
    state.rng = E.getEngine().rngState();
    state.optimizerStep = opt.stepCount;
    await saveRunState(io.stateDir, stateTensors(), state);
  };
  try {
    for (let step = state.step; step < steps; step++) {
      if (io.stepBudget && io.stepBudget.remaining <= 0) {
        if (!io.stateDir) throw new Error('finetune: a step budget needs a stateDir to checkpoint to');
        await checkpoint();
        return { best: state.best ?? final, bestStep: state.bestStep, steps, final, stopped: true };
      }
      if (io.stepBudget) io.stepBudget.remaining--;
      const loss = E.tidy(() => {
        const batch = makeBatch(train, sampler.next(), task.isRegression);
        const { logits } = model.classify(batch.inputs, { training: true });
        const l = taskLoss(task, logits, batch.labels);
        E.backward(l);
        opt.step(E.linearWarmupDecay(step, warmup, steps));
        opt.zeroGrad();
        return l;
      });
      state.step = step + 1;
      E.profileStep(); // --profile wiring: a step of the engine profiler (no-op unless profiling)
      const logNow = state.step % 10 === 0 || state.step === steps;
      if (logNow) {
        const value = await loss.item();
        if (!Number.isFinite(value)) throw new Error(`loss is ${value} at step ${state.step}${io.stateDir ? `; the last checkpoint in ${io.stateDir} is kept` : ''}`);
        io.log?.write({ ...io.tag, step: state.step, loss: value, lr: options.lr * E.linearWarmupDecay(step, warmup, steps) });
        progress.update(state.step, { loss: value });
      }
      loss.dispose();
      const evalNow = state.step === steps || (options.evalEvery > 0 && state.step % options.evalEvery === 0);
      if (evalNow) {
        const { metrics } = await evaluate(model, dev, task, { batchSize: evalBatch });
        final = metrics;
        io.log?.write({ ...io.tag, step: state.step, eval: metrics });
        if (!state.best || (metrics[mainMetric] ?? -Infinity) > (state.best[mainMetric] ?? -Infinity)) {
          state.best = metrics;
          state.bestStep = state.step;
          if (io.bestDir) await saveModel(model, io.bestDir, { tokenizer: io.tokenizer });
        }
      }
      if (io.checkpointEvery && state.step % io.checkpointEvery === 0 && state.step < steps) await checkpoint();
    }
  } finally {
    progress.stop();
    opt.dispose();
  }
  if (io.stateDir && fs.existsSync(io.stateDir)) fs.rmSync(io.stateDir, { recursive: true, force: true });
  return { best: state.best ?? final, bestStep: state.bestStep, steps, final };
}


