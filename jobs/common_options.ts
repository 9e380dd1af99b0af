/**
 * Options shared by jobs, declared once: the run loop's (every training job takes them with the same
 * meaning and defaults) and the task data's.
 */
import { opt } from './options.ts';

/** Validity of task sampling weights: two non-negative numbers, not both 0. */
export const twoWeights = (w: readonly number[]) => (w.length === 2 && w.every((x) => x >= 0) && w[0]! + w[1]! > 0 ? null : 'must be two non-negative numbers, not both 0');

/** The one seed default of every job. */
export const DEFAULT_SEED = 42;

/** The project's default encoder until its own pretrained model lands (see README). */
export const DEFAULT_MODEL = 'tiny';

/** The run loop's options (training/run/run.ts), the same on prune, finetune and pretrain. */
export const RUN_OPTIONS = {
  out: opt.string.required('--out <dir>', 'output directory'),
  resume: opt.flag('--resume', 'continue the run in --out where it stopped (refused if options or data changed)'),
  overwrite: opt.flag('--overwrite', 'replace the run (or other webprune outputs) in a non-empty --out'),
  seed: opt.natural('--seed <n>', 'random seed', DEFAULT_SEED, { trajectory: true }),
  checkpointEvery: opt.natural('--checkpoint-every <n>', 'checkpoint for --resume every n steps (0: only when the run stops early)', 500),
  stopAfter: opt.count.optional('--stop-after <n>', 'stop after n steps in this process, with a checkpoint to --resume from'),
  timeLimit: opt.number.optional('--time-limit <seconds>', 'start no step after this many seconds, then checkpoint and stop (leave a margin for the checkpoint)', {
    valid: (v) => (v >= 0 ? null : 'must be a non-negative number of seconds'),
  }),
  logEvery: opt.count('--log-every <n>', 'a metrics.jsonl row every n steps', 10),
  profile: opt.string.optional('--profile <file>', 'profile the training steps: GPU time per kernel (timestamp queries where the adapter has them), dispatches, host time and readbacks per step; printed as a table at the end and written to FILE as JSON'),
} as const;

/** Options of jobs that read a task's data. */
export const DATA_OPTIONS = {
  dataDir: opt.string.optional('--data-dir <dir>', 'data root (default $WEBPRUNE_DATA or ../shared/data)'),
  vocab: opt.string.optional('--vocab <path>', "vocab.txt or tokenizer directory (default: the model's, else bert-base-uncased)"),
  maxSeqLength: opt.count('--max-seq-length <n>', 'maximum tokens per example', 128, { trajectory: true }),
  maxTrain: opt.count.optional('--max-train <n>', 'use only the first n training examples of each task', { trajectory: true }),
  maxEval: opt.count.optional('--max-eval <n>', 'use only the first n dev examples', { trajectory: true }),
  skipMalformed: opt.flag('--skip-malformed', 'skip malformed data rows (and report how many) instead of stopping', { trajectory: true }),
  trainFraction: opt.number.optional('--train-fraction <f>', "train on a seeded random subsample of this fraction of the (target) task's training set", {
    trajectory: true,
    valid: (v) => (v > 0 && v <= 1 ? null : 'must be in (0, 1]'),
  }),
  dataSeed: opt.natural('--data-seed <n>', 'seed of the --train-fraction subsample (the same subsample for every run with this seed)', 0, { trajectory: true }),
} as const;
