/**
 * The finetune and eval jobs. finetune trains a model on a task (training/finetune.ts) on the run
 * loop and keeps the best dev checkpoint in --out; eval scores a model on a task's split.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getTask } from '../data/tasks.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import { loadModel } from '../models/load.ts';
import { castModel } from '../models/precision.ts';
import { INFERENCE_DTYPES } from '../engine/dtype.ts';
import type { EncodedSplit } from '../training/data.ts';
import { evaluate, loadFineTuned } from '../training/evaluate.ts';
import { FinetunePhase, totalSteps } from '../training/finetune.ts';
import { trainPhase } from '../training/run/loop.ts';
import { DATA_OPTIONS, RUN_OPTIONS, twoWeights } from './common_options.ts';
import { loadEncoded, modelHash, resolveDataDir, resolveSources, resolveTokenizer, splitHash, subsample } from './inputs.ts';
import { type JobContext, type JobResult, runJob } from './job.ts';
import { type OptionInput, OptionError, defineOptions, opt, resolveOptions, trajectoryOptions, within } from './options.ts';

export const FINETUNE_OPTIONS = defineOptions({
  model: opt.string.required('--model <dir|config>', 'checkpoint directory, Hugging Face hub id (org/name[@revision]), or a config name (tiny, mini, small, base) for random weights', { trajectory: true }),
  task: opt.string.required('--task <name>', 'mrpc, stsb, sciie, citation_intent, or [regression:](tsv|jsonl):DIR', { trajectory: true }),
  epochs: opt.number('--epochs <n>', 'training epochs', 3, { trajectory: true, valid: (v) => (v > 0 ? null : 'must be positive') }),
  steps: opt.count.optional('--steps <n>', 'optimizer steps (overrides --epochs)', { trajectory: true }),
  lr: opt.number('--lr <lr>', 'peak learning rate', 2e-5, { trajectory: true }),
  batchSize: opt.count('--batch-size <n>', 'batch size', 32, { trajectory: true }),
  warmup: opt.number('--warmup <ratio>', 'fraction of steps for linear warmup', 0.1, { trajectory: true, valid: within(0, 1) }),
  weightDecay: opt.number('--weight-decay <wd>', 'AdamW weight decay', 0.01, { trajectory: true }),
  evalEvery: opt.natural('--eval-every <n>', 'evaluate on dev every n steps (0: only at the end)', 0, { trajectory: true }),
  evalBatchSize: opt.count.optional('--eval-batch-size <n>', 'evaluation batch size (default 2 × --batch-size)'),
  transfer: opt.string.optional('--transfer <name>', 'a transfer task whose batches are mixed with the task\'s (FT(T, A) of Dery et al.; evaluation stays on --task)', { trajectory: true }),
  taskWeights: opt.numbers('--task-weights <a,b>', 'sampling weights of task and transfer batches', [1, 1], { trajectory: true, valid: twoWeights }),
  reinitHead: opt.flag('--reinit-head', "start from a fresh classifier even when the model's has the task's label count", { trajectory: true }),
  ...DATA_OPTIONS,
  ...RUN_OPTIONS,
});

export type FinetuneInput = OptionInput<typeof FINETUNE_OPTIONS>;

/** summary.json of a fine-tuning run. */
export interface FinetuneSummary {
  task: string;
  model: string;
  best: Record<string, number>;
  best_step: number;
  final: Record<string, number>;
  steps: number;
  seconds: number;
}

/** Already tokenised data a caller may pass instead of having the job read it. */
export interface TaskInputs {
  tokenizer: BertTokenizer;
  train: EncodedSplit;
  dev: EncodedSplit;
  /** The transfer task's training split (with --transfer). */
  transfer?: EncodedSplit;
}

/** The model files a finetune run writes into --out (removed by --overwrite). */
const MODEL_FILES = ['config.json', 'model.safetensors', 'model.safetensors.index.json', 'vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

/**
 * Fine-tunes a model on a task (or resumes the run in --out).
 * @throws OptionError for bad options (an --out that is the --model directory included); Error
 *   naming the file for data or a model that does not load, or the step where the loss diverged
 */
export async function finetuneJob(input: FinetuneInput, context: JobContext & { inputs?: TaskInputs } = {}): Promise<JobResult<FinetuneSummary>> {
  const options = resolveOptions(FINETUNE_OPTIONS, input);
  const o = await resolveSources(options, [options.task, options.transfer]);
  if (fs.existsSync(o.model) && path.resolve(o.model) === path.resolve(o.out)) throw new OptionError(`--out ${o.out} is the --model directory: choose another output directory`);
  const task = getTask(o.task);
  const transferTask = o.transfer ? getTask(o.transfer) : null;
  if (o.transfer === o.task) throw new OptionError(`--transfer ${o.transfer} is the task itself; pick another task`);
  const given = context.inputs ?? readTaskInputs(o, context.hooks?.info);
  if (transferTask && !given.transfer) throw new OptionError(`--transfer ${o.transfer}: the given inputs have no transfer split`);
  const inputs = { ...given, train: o.trainFraction ? subsample(given.train, o.trainFraction, o.dataSeed) : given.train };
  const steps = totalSteps(o, inputs.train.n);
  const fingerprint = {
    ...trajectoryOptions(FINETUNE_OPTIONS, options),
    '--model (content)': modelHash(o.model),
    vocabulary: inputs.tokenizer.fingerprint(),
    'train data': splitHash(inputs.train),
    'dev data': splitHash(inputs.dev),
    'transfer train data': inputs.transfer && transferTask ? splitHash(inputs.transfer) : null,
  };
  return runJob('finetune', o, fingerprint, MODEL_FILES, context, (run) =>
    run.stage('finetune', async () => {
      const { model, initialised } = loadModel(o.model, { head: 'classification', numLabels: task.numLabels, labelNames: task.labelNames, seed: o.seed, freshClassifier: o.reinitHead, task: task.name });
      if (initialised.length) run.info(`initialised ${initialised[0] === '*' ? 'all parameters (random model)' : initialised.join(', ')}`);
      const data = { target: { task, train: inputs.train }, dev: inputs.dev, transfer: transferTask ? { task: transferTask, train: inputs.transfer! } : null };
      const phase = new FinetunePhase(model, data, {
        steps, lr: o.lr, batchSize: o.batchSize, warmupSteps: Math.round(o.warmup * steps), weightDecay: o.weightDecay, evalEvery: o.evalEvery, seed: o.seed, maxGradNorm: 1,
        evalBatchSize: o.evalBatchSize ?? 2 * o.batchSize, taskWeights: o.taskWeights as [number, number],
      }, { metrics: run.metrics, bestDir: o.out, tokenizer: inputs.tokenizer });
      try {
        await trainPhase(run, phase);
        const r = phase.outcome();
        return { task: task.name, model: options.model, best: r.best, best_step: r.bestStep, final: r.final, steps: r.steps, seconds: run.seconds() } satisfies FinetuneSummary;
      } finally {
        phase.dispose();
        model.dispose();
      }
    }),
  );
}

/** Reads and tokenises a task's train and dev splits as the options say. */
export function readTaskInputs(
  o: { model: string; task: string; transfer?: string; dataDir?: string; vocab?: string; maxSeqLength: number; maxTrain?: number; maxEval?: number; skipMalformed: boolean },
  info: (message: string) => void = (m) => process.stderr.write(`${m}\n`),
): TaskInputs {
  const dataDir = resolveDataDir(o.dataDir);
  const task = getTask(o.task);
  const tokenizer = resolveTokenizer(o.model, o.vocab, dataDir);
  const train = loadEncoded(task, dataDir, 'train', tokenizer, o.maxSeqLength, o.maxTrain, o.skipMalformed);
  const dev = loadEncoded(task, dataDir, 'dev', tokenizer, o.maxSeqLength, o.maxEval, o.skipMalformed);
  if (train.skipped + dev.skipped) info(`skipped ${train.skipped} malformed rows in ${train.file} and ${dev.skipped} in ${dev.file}`);
  const transfer = o.transfer ? loadEncoded(getTask(o.transfer), dataDir, 'train', tokenizer, o.maxSeqLength, o.maxTrain, o.skipMalformed).encoded : undefined;
  return { tokenizer, train: train.encoded, dev: dev.encoded, transfer };
}

export const EVAL_OPTIONS = defineOptions({
  model: opt.string.required('--model <dir>', 'checkpoint directory (or hub id) of a fine-tuned model'),
  task: opt.string.required('--task <name>', 'task (as for finetune)'),
  split: opt.choice('--split <split>', 'the split to score', ['dev', 'train', 'test'] as const, 'dev'),
  dataDir: DATA_OPTIONS.dataDir,
  vocab: opt.string.optional('--vocab <path>', "vocab.txt or tokenizer directory (default: the model's)"),
  maxSeqLength: DATA_OPTIONS.maxSeqLength,
  batchSize: opt.count('--batch-size <n>', 'batch size', 64),
  dtype: opt.choice('--dtype <dtype>', 'inference precision: f16 stores weights and activations in half precision, accumulating in f32 (needs the adapter feature shader-f16)', INFERENCE_DTYPES, 'f32'),
});

export type EvalInput = OptionInput<typeof EVAL_OPTIONS>;

/**
 * The task's metrics of a model on one split.
 * @throws Error when the model's head does not fit the task, or the split has no labels
 */
export async function evalJob(input: EvalInput): Promise<Record<string, number>> {
  const given = resolveOptions(EVAL_OPTIONS, input);
  const o = await resolveSources(given, [given.task]);
  const dataDir = resolveDataDir(o.dataDir);
  const task = getTask(o.task);
  const tokenizer = resolveTokenizer(o.model, o.vocab, dataDir);
  // Its own head (a multitask model directory's head for this task); refused when it has none or it does not fit.
  const model = loadFineTuned(o.model, task);
  try {
    await castModel(model, o.dtype); // f16: models/precision.ts
    const { encoded } = loadEncoded(task, dataDir, o.split, tokenizer, o.maxSeqLength);
    return (await evaluate(model, encoded, task, { batchSize: o.batchSize })).metrics;
  } finally {
    model.dispose();
  }
}
