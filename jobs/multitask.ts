/**
 * The multitask job (Xia & Shin 2021): one encoder pruned for several tasks at once under a fixed
 * parameter budget B, with one of the pruning strategies (pruning/strategy.ts: rank, element-l0,
 * movement, structured), a head per task, batches drawn per step by --task-sampling. The weights
 * train with the masks ("pruning during fine-tuning", as the paper's strategies do); there is no
 * fine-tuning afterwards. Stages, each resumable:
 *  1. prune (multitask/phase.ts on the run loop), then the final model fitted to the budget and
 *     saved to OUT/model/ (an ordinary BertModel checkpoint plus task_heads.json/.safetensors);
 *  2. evaluate: each task's dev metrics of OUT/model as it loads back (`webprune eval --model
 *     OUT/model --task T` gives the same).
 * Writes OUT/summary.json (budget, per-task dev metrics and their average, ranks / storage /
 * structure as the strategy has them, notes) and OUT/metrics.jsonl.
 */
import * as path from 'node:path';
import { type Task, getTask } from '../data/tasks.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import * as E from '../engine/index.ts';
import { loadModel } from '../models/load.ts';
import { TaskHeads, saveMultitaskModel } from '../multitask/heads.ts';
import { type MultitaskData, MultitaskPrunePhase } from '../multitask/phase.ts';
import { parseTaskSampling, samplingProbabilities } from '../multitask/sampling.ts';
import type { SparseStorageReport } from '../pruning/element/sparse.ts';
import { MASK_TYPES, type MaskType } from '../pruning/l0_module.ts';
import { createStrategy } from '../pruning/strategies.ts';
import { type BudgetReport, type PrunedModel, STRATEGIES, type StrategyName } from '../pruning/strategy.ts';
import type { StructureSummary } from '../pruning/structure.ts';
import type { EncodedSplit } from '../training/data.ts';
import { evaluate } from '../training/evaluate.ts';
import { trainPhase } from '../training/run/loop.ts';
import type { Run } from '../training/run/run.ts';
import { DATA_OPTIONS, DEFAULT_MODEL, RUN_OPTIONS } from './common_options.ts';
import { loadEncoded, modelHash, resolveDataDir, resolveSources, resolveTokenizer, splitHash, subsample } from './inputs.ts';
import { type JobContext, type JobResult, runJob } from './job.ts';
import { type OptionInput, type OptionValues, OptionError, defineOptions, opt, resolveOptions, trajectoryOptions } from './options.ts';

const { trainFraction: _perTarget, ...DATA } = DATA_OPTIONS;

export const MULTITASK_OPTIONS = defineOptions({
  model: opt.string('--model <dir|config>', 'pretrained encoder: checkpoint directory or config name', DEFAULT_MODEL, { trajectory: true }),
  tasks: opt.list.required('--tasks <list>', 'tasks pruned together (one head each): mrpc, stsb, sciie, citation_intent, or [regression:](tsv|jsonl):DIR', {
    trajectory: true,
    valid: (ts) => (new Set(ts).size === ts.length ? null : 'must name each task once'),
  }),
  strategy: opt.choice('--strategy <s>', 'what is pruned: rank dimensions (FLOP), single weights (L0 gates or movement), or CoFi structures', STRATEGIES, 'rank', { trajectory: true }),
  budget: opt.number.required('--budget <B>', "fraction of the encoder's prunable parameters kept, in (0, 1] (counted alike for every strategy)", {
    trajectory: true,
    valid: (v) => (v > 0 && v <= 1 ? null : 'must be in (0, 1]'),
  }),
  steps: opt.count('--steps <n>', 'pruning steps (the weights train with the masks)', 10000, { trajectory: true }),
  batchSize: opt.count('--batch-size <n>', 'batch size (each batch from one task)', 32, { trajectory: true }),
  lr: opt.number('--lr <lr>', 'learning rate of the encoder weights and the task heads (linear decay)', 2e-5, { trajectory: true }),
  maskLr: opt.number('--mask-lr <lr>', 'learning rate of the mask variables (log_alpha; movement scores)', 0.01, { trajectory: true }),
  lagrangianLr: opt.number.optional('--lagrangian-lr <lr>', 'learning rate of λ1, λ2 (gradient ascent; default --mask-lr)', { trajectory: true }),
  lagrangianWarmup: opt.natural.optional('--lagrangian-warmup <n>', 'steps over which the target ramps from 0 to 1 − B (default 10% of --steps)', { trajectory: true }),
  initialLogAlpha: opt.number.optional('--initial-log-alpha <a>', 'initial mean log_alpha of rank and element gates (default ln 100: all kept at the start)', { trajectory: true }),
  movementWarmup: opt.numbers.optional('--movement-warmup <initial,final>', "movement: steps before pruning starts and at the final size (default 10% and 20% of --steps; Sanh et al.'s cubic schedule)", {
    trajectory: true,
    valid: (w) => (w.length === 2 && w.every((x) => Number.isInteger(x) && x >= 0) ? null : 'must be two non-negative integers'),
  }),
  maskTypes: opt.list('--mask-types <list>', `structured: CoFi mask types to learn: ${MASK_TYPES.join(',')}`, [...MASK_TYPES], {
    trajectory: true,
    valid: (ts) => (ts.every((t) => (MASK_TYPES as readonly string[]).includes(t)) ? null : `must be a comma list of ${MASK_TYPES.join(', ')}`),
  }),
  taskSampling: opt.string('--task-sampling <s>', "which task each batch comes from: proportional (to training set sizes) | uniform | temperature:T (p ∝ n^(1/T))", 'proportional', {
    trajectory: true,
    valid: (s) => {
      try {
        parseTaskSampling(s);
        return null;
      } catch {
        return 'must be proportional, uniform or temperature:T with T > 0';
      }
    },
  }),
  lossWeights: opt.numbers.optional('--loss-weights <w,...>', 'loss weight of each task, in --tasks order (default 1 each)', {
    trajectory: true,
    valid: (w) => (w.every((x) => x >= 0) && w.some((x) => x > 0) ? null : 'must be non-negative numbers, not all 0'),
  }),
  lowResource: opt.string.optional('--low-resource <task>', "one of --tasks whose training set is subsampled to --fraction (a low-resource task)", { trajectory: true }),
  fraction: opt.number.optional('--fraction <f>', "the --low-resource task's fraction of its training set (default 0.1; seeded by --data-seed)", {
    trajectory: true,
    valid: (v) => (v > 0 && v <= 1 ? null : 'must be in (0, 1]'),
  }),
  weightDecay: opt.number('--weight-decay <wd>', 'AdamW weight decay of the weights', 0, { trajectory: true }),
  trainEmbeddings: opt.flag('--train-embeddings', 'train the embeddings (frozen by default, as `prune`)', { trajectory: true }),
  evalBatchSize: opt.count.optional('--eval-batch-size <n>', 'evaluation batch size (default 2 × --batch-size)'),
  quick: opt.flag('--quick', 'reduced steps, lengths and data for the tiny encoder on a CPU (each option given still wins)'),
  ...DATA,
  ...RUN_OPTIONS,
});

export type MultitaskInput = OptionInput<typeof MULTITASK_OPTIONS>;
type MultitaskOptions = OptionValues<typeof MULTITASK_OPTIONS>;

/** --quick: steps, lengths and data for the tiny encoder on a CPU adapter. */
export const MULTITASK_QUICK: Partial<MultitaskInput> = {
  steps: 60, batchSize: 8, maxSeqLength: 32, maxTrain: 256, maxEval: 128, lr: 1e-3, maskLr: 0.1, lagrangianLr: 0.5, lagrangianWarmup: 30, initialLogAlpha: 1, checkpointEvery: 20,
};

/** The default fraction of --low-resource. */
export const LOW_RESOURCE_FRACTION = 0.1;

/** One task's tokenised splits. */
export interface TaskSplits {
  train: EncodedSplit;
  dev: EncodedSplit;
}

/** Already tokenised data a caller may pass instead of having the job read it (full training sets: --low-resource subsamples them). */
export interface MultitaskInputs {
  tokenizer: BertTokenizer;
  /** By task name, for every task of --tasks. */
  tasks: Record<string, TaskSplits>;
}

/** summary.json of a multitask run. */
export interface MultitaskSummary {
  tasks: string[];
  strategy: StrategyName;
  model: string;
  seed: number;
  device: string;
  budget: BudgetReport;
  /** Each task's dev metrics of the saved model (OUT/model with that task's head). */
  dev: Record<string, Record<string, number>>;
  /** The metric of each task that `average` takes (the task's first metric). */
  main_metric: Record<string, string>;
  /** Mean over tasks of their main dev metric. */
  average: number;
  task_sampling: { scheme: string; probabilities: Record<string, number> };
  loss_weights: Record<string, number>;
  train_examples: Record<string, number>;
  low_resource: { task: string; fraction: number } | null;
  /** rank: kept rank per Linear. */
  ranks?: PrunedModel['ranks'];
  /** element-l0, movement: non-zeros and the bytes dense f32 and CSR storage take. */
  storage?: Omit<SparseStorageReport, 'matrices'>;
  /** structured: heads and FFN units kept per layer. */
  structure?: StructureSummary;
  notes: string[];
  steps: number;
  seconds: number;
}

/** The resolved options: --quick's values under the given ones. */
export function resolveMultitaskOptions(input: Readonly<Record<string, unknown>>): MultitaskOptions {
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  return resolveOptions(MULTITASK_OPTIONS, given['quick'] ? { ...MULTITASK_QUICK, ...given } : given);
}

/**
 * Checks the options that depend on each other, before any work.
 * @throws OptionError naming the option; Error naming an unknown task
 */
export function validateMultitaskOptions(o: MultitaskOptions): void {
  for (const t of o.tasks) getTask(t);
  if (o.lossWeights && o.lossWeights.length !== o.tasks.length) throw new OptionError(`--loss-weights needs one weight per task (${o.tasks.length}: ${o.tasks.join(', ')}), got ${o.lossWeights.length}`);
  if (o.lowResource !== undefined && !o.tasks.includes(o.lowResource)) throw new OptionError(`--low-resource ${o.lowResource} is not one of --tasks (${o.tasks.join(', ')})`);
  if (o.fraction !== undefined && o.lowResource === undefined) throw new OptionError('--fraction applies to the --low-resource task: name it with --low-resource TASK');
  if (o.movementWarmup && o.strategy !== 'movement') throw new OptionError(`--movement-warmup applies to --strategy movement (got ${o.strategy})`);
}

/** Reads and tokenises each task's train and dev splits. */
export function readMultitaskInputs(o: MultitaskOptions): MultitaskInputs {
  const dataDir = resolveDataDir(o.dataDir);
  const tokenizer = resolveTokenizer(o.model, o.vocab, dataDir);
  const split = (task: Task, which: 'train' | 'dev', limit?: number) => loadEncoded(task, dataDir, which, tokenizer, o.maxSeqLength, limit, o.skipMalformed).encoded;
  return { tokenizer, tasks: Object.fromEntries(o.tasks.map((t) => [t, { train: split(getTask(t), 'train', o.maxTrain), dev: split(getTask(t), 'dev', o.maxEval) }])) };
}

/** The training sets as trained on (the low-resource task subsampled), in --tasks order. */
function trainingData(o: MultitaskOptions, inputs: MultitaskInputs): Array<MultitaskData & { dev: EncodedSplit }> {
  return o.tasks.map((name) => {
    const given = inputs.tasks[name];
    if (!given) throw new OptionError(`the given inputs have no data for task ${name}`);
    const train = name === o.lowResource ? subsample(given.train, o.fraction ?? LOW_RESOURCE_FRACTION, o.dataSeed) : given.train;
    return { task: getTask(name), train, dev: given.dev };
  });
}

/** Files and folders the job writes in OUT (removed by --overwrite). */
const OUTPUTS = ['model'];

/**
 * Prunes one encoder for every task of --tasks, saves it and scores it on each task's dev set (or
 * resumes the run in --out).
 * @throws OptionError for bad options; Error naming the file for a model or data that does not
 *   load, or the step where the loss diverged (the last checkpoint is kept)
 */
export async function multitaskJob(input: MultitaskInput, context: JobContext & { inputs?: MultitaskInputs } = {}): Promise<JobResult<MultitaskSummary>> {
  const options = resolveMultitaskOptions(input);
  validateMultitaskOptions(options);
  // Hub ids → the HF cache, mrpc/stsb from the hub when the data root lacks them; the fingerprint keeps the id as given.
  const o = await resolveSources(options, options.tasks);
  // A model that does not load fails now, not after data preparation.
  loadModel(o.model, { head: 'base', seed: o.seed }).model.dispose();
  const inputs = context.inputs ?? readMultitaskInputs(o);
  const data = trainingData(o, inputs);
  const fingerprint = {
    ...trajectoryOptions(MULTITASK_OPTIONS, options),
    '--model (content)': modelHash(o.model),
    vocabulary: inputs.tokenizer.fingerprint(),
    ...Object.fromEntries(data.flatMap((d) => [[`${d.task.name} train data`, splitHash(d.train)], [`${d.task.name} dev data`, splitHash(d.dev)]])),
  };
  return runJob('multitask', o, fingerprint, OUTPUTS, context, async (run) => {
    const pruned = await run.stage('prune', () => pruneStage(run, o, data, inputs.tokenizer));
    const dev = await run.stage('evaluate', () => evaluateStage(o, data));
    return summarize(run, { ...o, model: options.model }, data, pruned, dev);
  });
}

/** What the prune stage records (the final model's accounting; its weights are in OUT/model). */
type PruneRecord = Pick<MultitaskSummary, 'budget' | 'ranks' | 'storage' | 'structure' | 'notes'>;

/** The strategy's options from the job's. */
function strategyOptions(o: MultitaskOptions) {
  return {
    budget: o.budget,
    steps: o.steps,
    seed: o.seed,
    lagrangianWarmup: o.lagrangianWarmup,
    initialLogAlpha: o.initialLogAlpha,
    movementWarmup: o.movementWarmup ? { initial: o.movementWarmup[0]!, final: o.movementWarmup[1]! } : undefined,
    maskTypes: o.maskTypes as MaskType[],
  };
}

/** Stage 1: pruning on the run loop, then the final model fitted to the budget, saved to OUT/model. */
async function pruneStage(run: Run, o: MultitaskOptions, data: ReturnType<typeof trainingData>, tokenizer: BertTokenizer): Promise<PruneRecord> {
  const { model } = loadModel(o.model, { head: 'base', seed: o.seed });
  if (!o.trainEmbeddings) model.setTrainable((n) => n.startsWith('bert.embeddings.') && !n.includes('LayerNorm'), false);
  // The strategy owns the model from here (rank replaces it by its SVD factorisation).
  const strategy = await createStrategy(o.strategy, model, strategyOptions(o));
  const heads = TaskHeads.forModel(strategy.model.config, data.map((d) => d.task), o.seed + 1);
  const probabilities = samplingProbabilities(data.map((d) => d.train.n), parseTaskSampling(o.taskSampling));
  const phase = new MultitaskPrunePhase(strategy, heads, data, {
    steps: o.steps, lr: o.lr, maskLr: o.maskLr, lagrangianLr: o.lagrangianLr, weightDecay: o.weightDecay,
    batchSize: o.batchSize, seed: o.seed, probabilities, lossWeights: o.lossWeights ?? data.map(() => 1),
  });
  try {
    await trainPhase(run, phase);
    const final = await strategy.finalize();
    const b = final.budget;
    run.info(`kept ${(b.achieved * 100).toFixed(2)}% of the prunable parameters (budget ${(b.target * 100).toFixed(2)}%; expected ${(b.expected * 100).toFixed(2)}%, deterministic masks ${(b.deterministic * 100).toFixed(2)}%)`);
    await saveMultitaskModel(path.join(o.out, 'model'), final.config, final.values, heads, tokenizer);
    const record: PruneRecord = { budget: b, notes: final.notes };
    if (final.ranks) record.ranks = final.ranks;
    if (final.structure) record.structure = final.structure;
    if (final.storage) {
      const { matrices: _perMatrix, ...storage } = final.storage;
      record.storage = storage;
    }
    return record;
  } finally {
    phase.dispose();
    heads.dispose();
    strategy.dispose();
  }
}

/** Stage 2: each task's dev metrics of the saved model with that task's head. */
async function evaluateStage(o: MultitaskOptions, data: ReturnType<typeof trainingData>): Promise<Record<string, Record<string, number>>> {
  const dev: Record<string, Record<string, number>> = {};
  for (const d of data) {
    const { model } = loadModel(path.join(o.out, 'model'), { head: 'classification', task: d.task.name, seed: 0 });
    try {
      dev[d.task.name] = (await evaluate(model, d.dev, d.task, { batchSize: o.evalBatchSize ?? 2 * o.batchSize })).metrics;
    } finally {
      model.dispose();
    }
  }
  return dev;
}

/**
 * A task's score in averages and ensemble choices: its main (first) dev metric; a metric that is
 * not finite (a correlation of constant predictions is undefined) counts as 0, no information.
 */
export function mainScore(metrics: Readonly<Record<string, number>> | undefined, metric: string): number {
  const v = metrics?.[metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** The separator of task and metric in an experiment cell's flattened metrics ('mrpc/accuracy'). */
export const TASK_METRIC_SEPARATOR = '/';

/**
 * What an experiment cell records of a multitask run: every task's dev metrics flattened as
 * 'task/metric' (plus 'average'), and the model's size as its budget counts it.
 */
export function multitaskCellResult(summary: unknown): { dev: Record<string, number>; size: { params: number; sparsity: number } } {
  const s = summary as MultitaskSummary;
  const dev: Record<string, number> = { average: s.average };
  for (const [task, metrics] of Object.entries(s.dev)) for (const [k, v] of Object.entries(metrics)) dev[`${task}${TASK_METRIC_SEPARATOR}${k}`] = v;
  return { dev, size: { params: s.budget.kept_params, sparsity: 1 - s.budget.achieved } };
}

function summarize(run: Run, o: MultitaskOptions, data: ReturnType<typeof trainingData>, pruned: PruneRecord, dev: Record<string, Record<string, number>>): MultitaskSummary {
  const gpu = E.getEngine().gpu.description;
  const names = data.map((d) => d.task.name);
  const main = Object.fromEntries(data.map((d) => [d.task.name, d.task.metricNames[0]!]));
  const probabilities = samplingProbabilities(data.map((d) => d.train.n), parseTaskSampling(o.taskSampling));
  const undefinedMetrics = names.filter((t) => !Number.isFinite(dev[t]![main[t]!]!));
  const notes = [...pruned.notes, ...undefinedMetrics.map((t) => `${t} ${main[t]} is undefined (constant predictions): counted as 0 in the average`), "the budget counts the encoder's prunable parameters (attention and FFN weights and biases); embeddings, layer norms, pooler and task heads are not counted"];
  return {
    tasks: names,
    strategy: o.strategy,
    model: o.model,
    seed: o.seed,
    device: `${gpu.vendor} ${gpu.device} (${gpu.description})`,
    budget: pruned.budget,
    dev,
    main_metric: main,
    average: names.reduce((s, t) => s + mainScore(dev[t], main[t]!), 0) / names.length,
    task_sampling: { scheme: o.taskSampling, probabilities: Object.fromEntries(names.map((t, i) => [t, probabilities[i]!])) },
    loss_weights: Object.fromEntries(names.map((t, i) => [t, o.lossWeights?.[i] ?? 1])),
    train_examples: Object.fromEntries(data.map((d) => [d.task.name, d.train.n])),
    low_resource: o.lowResource ? { task: getTask(o.lowResource).name, fraction: o.fraction ?? LOW_RESOURCE_FRACTION } : null,
    ...(pruned.ranks ? { ranks: pruned.ranks } : {}),
    ...(pruned.storage ? { storage: pruned.storage } : {}),
    ...(pruned.structure ? { structure: pruned.structure } : {}),
    notes,
    steps: o.steps,
    seconds: run.seconds(),
  };
}
