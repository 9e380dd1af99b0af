/**
 * The prune job: CoFi structured pruning of a pretrained encoder for a target task, optionally with
 * a transfer task (Dery, Hannun, Grangier), then physical compaction and fine-tuning. Stages, each
 * resumable:
 *  1. prune (pruning/prune_phase.ts), then compaction: CoFi's deterministic masks fitted to the
 *     parameter budget and folded into a smaller model (pruning/structure.ts, pruning/compact.ts),
 *     saved to OUT/compacted/;
 *  2. finetune the compacted model on the target task only, keeping the best dev checkpoint in
 *     OUT/pruned/.
 * Writes OUT/summary.json, OUT/metrics.jsonl, OUT/structure.svg and OUT/masks.safetensors (the final
 * masks, for reuse by the restructure job). With several sparsities (increasing), one pruning run
 * moves its target through each in turn (--pruning-steps each) and each gets its own directory
 * OUT/sparsity-S/ with the outputs above; OUT/summary.json then lists them (by_sparsity).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getTask } from '../data/tasks.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import * as E from '../engine/index.ts';
import { Bert } from '../models/bert.ts';
import { type BertConfig, parameterCount } from '../models/config.ts';
import { writeFileAtomic } from '../models/io/atomic.ts';
import { saveCheckpoint } from '../models/io/checkpoint.ts';
import { loadModel, saveModel } from '../models/load.ts';
import { compact } from '../pruning/compact.ts';
import { MASK_TYPES, type MaskType } from '../pruning/l0_module.ts';
import { CofiPrunePhase } from '../pruning/prune_phase.ts';
import { type PruneSummary, structureSvg } from '../pruning/report.ts';
import { type StructureSummary, fitToBudget, saveMasks } from '../pruning/structure.ts';
import { METHODS, type TransferMethod } from '../pruning/transfer.ts';
import type { EncodedSplit } from '../training/data.ts';
import { evaluate, loadFineTuned } from '../training/evaluate.ts';
import { FinetunePhase, totalSteps } from '../training/finetune.ts';
import { trainPhase } from '../training/run/loop.ts';
import type { TaskData } from '../training/task_mix.ts';
import type { Run } from '../training/run/run.ts';
import { DATA_OPTIONS, DEFAULT_MODEL, RUN_OPTIONS, twoWeights } from './common_options.ts';
import { loadEncoded, modelHash, resolveDataDir, resolveSources, resolveTokenizer, splitHash, subsample } from './inputs.ts';
import { type JobContext, type JobResult, runJob } from './job.ts';
import { type OptionInput, type OptionValues, OptionError, defineOptions, opt, resolveOptions, trajectoryOptions } from './options.ts';

export const PRUNE_OPTIONS = defineOptions({
  model: opt.string('--model <dir|config>', 'pretrained encoder: checkpoint directory, config name, or Hugging Face hub id (org/name[@revision])', DEFAULT_MODEL, { trajectory: true }),
  task: opt.string.required('--task <name>', 'target task: mrpc, stsb, sciie, citation_intent, or [regression:](tsv|jsonl):DIR', { trajectory: true }),
  transfer: opt.string.optional('--transfer <name>', 'auxiliary transfer task (Dery et al.)', { trajectory: true }),
  method: opt.string.optional('--method <m>', `${METHODS.join(' | ')} (default: delta with --transfer, else none)`, { trajectory: true }),
  sparsity: opt.numbers.required('--sparsity <s[,s...]>', 'target sparsity: fraction of prunable (attention + FFN) parameters removed, in (0, 1); several (increasing) prune once, the target moving through each in turn, with a model saved at each', {
    trajectory: true,
    valid: (ss) => (ss.some((x) => !(x > 0 && x < 1)) ? 'must be in (0, 1)' : ss.some((x, i) => i > 0 && !(x > ss[i - 1]!)) ? 'must increase' : null),
  }),
  pruningSteps: opt.count('--pruning-steps <n>', 'pruning steps per target sparsity (paper: 10K)', 10000, { trajectory: true }),
  finetuneSteps: opt.natural.optional('--finetune-steps <n>', 'fine-tuning steps after compaction (overrides --finetune-epochs; 0: none)', { trajectory: true }),
  finetuneEpochs: opt.number('--finetune-epochs <n>', 'fine-tuning epochs after compaction (paper: 20)', 20, { trajectory: true, valid: (v) => (v > 0 ? null : 'must be positive') }),
  batchSize: opt.count('--batch-size <n>', 'batch size', 32, { trajectory: true }),
  lr: opt.number('--lr <lr>', 'learning rate of the weights while pruning', 2e-5, { trajectory: true }),
  regLr: opt.number('--reg-lr <lr>', 'learning rate of log_alpha (λ1, λ2 use its negative)', 0.01, { trajectory: true }),
  finetuneLr: opt.number('--finetune-lr <lr>', 'learning rate of the fine-tuning after compaction', 2e-5, { trajectory: true }),
  lagrangianWarmup: opt.natural.optional('--lagrangian-warmup <n>', 'steps over which the target sparsity ramps up (default 10% of the pruning steps)', { trajectory: true }),
  taskWeights: opt.numbers('--task-weights <a,b>', 'sampling weights of target and transfer batches (paper grid: 1,1 1,2 2,1)', [1, 1], { trajectory: true, valid: twoWeights }),
  deltaL2: opt.number('--delta-l2 <w>', 'l2 penalty weight on δ (method delta)', 1e-2, { trajectory: true }),
  maskTypes: opt.list('--mask-types <list>', `mask types to learn: ${MASK_TYPES.join(',')}`, [...MASK_TYPES], {
    trajectory: true,
    valid: (ts) => (ts.every((t) => (MASK_TYPES as readonly string[]).includes(t)) ? null : `must be a comma list of ${MASK_TYPES.join(', ')}`),
  }),
  trainEmbeddings: opt.flag('--train-embeddings', 'train the embeddings (frozen by default, as Dery et al.)', { trajectory: true }),
  teacher: opt.string.optional('--teacher <dir>', 'a model fine-tuned on the task (directory or hub id): distil from it (layer + prediction distillation, CoFi)', { trajectory: true }),
  distillLayerAlpha: opt.number('--distill-layer-alpha <a>', 'weight of the layer distillation loss', 0.9, { trajectory: true }),
  distillPredictionAlpha: opt.number('--distill-prediction-alpha <a>', 'weight of the prediction (KL) distillation loss', 0.1, { trajectory: true }),
  distillTemperature: opt.number('--distill-temperature <t>', 'temperature of the prediction distillation', 2, { trajectory: true }),
  weightDecay: opt.number('--weight-decay <wd>', 'AdamW weight decay of the weights', 0, { trajectory: true }),
  evalBatchSize: opt.count.optional('--eval-batch-size <n>', 'evaluation batch size (default 2 × --batch-size)'),
  saveMasked: opt.flag('--save-masked', 'also save the dense model as pruning left it, before compaction (OUT/masked/)'),
  ...DATA_OPTIONS,
  ...RUN_OPTIONS,
});

export type PruneInput = OptionInput<typeof PRUNE_OPTIONS>;
type PruneOptions = OptionValues<typeof PRUNE_OPTIONS>;

/** Already tokenised data a caller may pass instead of having the job read it. */
export interface PruneInputs {
  tokenizer: BertTokenizer;
  target: { train: EncodedSplit; dev: EncodedSplit };
  transfer: { train: EncodedSplit } | null;
}

/** The method in effect: the option, else delta with a transfer task, else none. */
function methodOf(o: PruneOptions): TransferMethod {
  return (o.method ?? (o.transfer ? 'delta' : 'none')) as TransferMethod;
}

/**
 * Checks the options that depend on each other, before any work.
 * @throws OptionError naming the option
 */
export function validatePruneOptions(o: PruneOptions): void {
  getTask(o.task);
  const method = methodOf(o);
  if (!(METHODS as readonly string[]).includes(method)) throw new OptionError(`--method must be one of ${METHODS.join(', ')} (got ${method})`);
  if (o.transfer !== undefined) {
    getTask(o.transfer);
    if (o.transfer === o.task) throw new OptionError(`--transfer ${o.transfer} is the target task itself; pick another task`);
    if (method === 'none') throw new OptionError('--method none uses no transfer task: drop --transfer, or choose single-mask, multi-mask or delta');
  } else if (method !== 'none') throw new OptionError(`--method ${method} needs --transfer TASK`);
}

/** Reads and tokenises the target's train and dev splits and the transfer task's train split. */
export function readPruneInputs(o: PruneOptions): PruneInputs {
  const dataDir = resolveDataDir(o.dataDir);
  const tokenizer = resolveTokenizer(o.model, o.vocab, dataDir);
  const split = (task: string, which: 'train' | 'dev', limit?: number) => loadEncoded(getTask(task), dataDir, which, tokenizer, o.maxSeqLength, limit, o.skipMalformed).encoded;
  return {
    tokenizer,
    target: { train: split(o.task, 'train', o.maxTrain), dev: split(o.task, 'dev', o.maxEval) },
    transfer: o.transfer ? { train: split(o.transfer, 'train', o.maxTrain) } : null,
  };
}

/**
 * Prunes, compacts and fine-tunes (or resumes the run in --out).
 * @throws OptionError for bad options; Error naming the file for a model or data that does not
 *   load, or the step where the loss diverged (the last checkpoint is kept)
 */
export async function pruneJob(input: PruneInput, context: JobContext & { inputs?: PruneInputs } = {}): Promise<JobResult<PruneSummary>> {
  const options = resolveOptions(PRUNE_OPTIONS, input);
  validatePruneOptions(options);
  const o = await resolveSources(options, [options.task, options.transfer]);
  // A model that does not load fails now, not after data preparation.
  loadModel(o.model, { head: 'classification', seed: o.seed }).model.dispose();
  const given = context.inputs ?? readPruneInputs(o);
  const inputs = { ...given, target: { ...given.target, train: o.trainFraction ? subsample(given.target.train, o.trainFraction, o.dataSeed) : given.target.train } };
  const fingerprint = {
    ...trajectoryOptions(PRUNE_OPTIONS, options),
    '--model (content)': modelHash(o.model),
    '--teacher (content)': o.teacher ? modelHash(o.teacher) : null,
    vocabulary: inputs.tokenizer.fingerprint(),
    'target train data': splitHash(inputs.target.train),
    'target dev data': splitHash(inputs.target.dev),
    'transfer train data': inputs.transfer ? splitHash(inputs.transfer.train) : null,
  };
  const outputs = [...OUTPUTS, ...o.sparsity.map((s) => sparsityDir('', s, o.sparsity.length))];
  return runJob('prune', o, fingerprint, outputs, context, async (run) => {
    const { dense, snapshots } = await run.stage('prune', () => pruneStage(run, o, inputs));
    const summaries: PruneSummary[] = [];
    for (const snap of snapshots) {
      const finetuned = await run.stage(snapshots.length > 1 ? `finetune-${snap.sparsity}` : 'finetune', () => finetuneStage(run, o, inputs, snap));
      summaries.push(await writeSummary(run, o, dense, snap, finetuned));
    }
    return summaries.length === 1 ? summaries[0]! : { ...summaries.at(-1)!, by_sparsity: summaries };
  });
}

/** The files and folders a single-sparsity run writes in OUT (removed by --overwrite). */
const OUTPUTS = ['pruned', 'compacted', 'masked', 'structure.svg', 'masks.safetensors', 'snapshot.json'];

/** Where a sparsity's outputs go: OUT itself for a single sparsity, else OUT/sparsity-S. */
function sparsityDir(out: string, sparsity: number, count: number): string {
  return count === 1 ? out : path.join(out, `sparsity-${sparsity}`);
}

/** What compaction at one target sparsity recorded (OUT[/sparsity-S]/snapshot.json). */
interface Snapshot {
  sparsity: number;
  dir: string;
  /** The pruning step at which the masks were taken. */
  step: number;
  structure: StructureSummary;
  deterministicSparsity: number;
  expectedSparsity: number;
  budgetFit: { removed: number; restored: number };
  beforeFinetune: Record<string, number>;
}

/**
 * Stage 1: pruning with masks; at the end of each target's steps, its masks fitted to that budget,
 * the compacted model saved to DIR/compacted/ and its masks to DIR/masks.safetensors.
 */
async function pruneStage(run: Run, o: PruneOptions, inputs: PruneInputs): Promise<{ dense: BertConfig; snapshots: Snapshot[] }> {
  const targetTask = getTask(o.task);
  const { model } = loadModel(o.model, { head: 'classification', numLabels: targetTask.numLabels, labelNames: targetTask.labelNames, seed: o.seed });
  if (!o.trainEmbeddings) model.setTrainable((n) => n.startsWith('bert.embeddings.') && !n.includes('LayerNorm'), false);
  const teacher = o.teacher ? loadFineTuned(o.teacher, targetTask, o.seed) : null; // its own head, never a re-initialised one
  teacher?.setTrainable(() => true, false);
  const target: TaskData = { task: targetTask, train: inputs.target.train };
  const transfer: TaskData | null = o.transfer && inputs.transfer ? { task: getTask(o.transfer), train: inputs.transfer.train } : null;
  const K = o.sparsity.length;
  const phase = new CofiPrunePhase(model, target, transfer, teacher, {
    method: methodOf(o),
    sparsity: o.sparsity,
    steps: K * o.pruningSteps,
    segmentSteps: o.pruningSteps,
    batchSize: o.batchSize,
    seed: o.seed,
    lr: o.lr,
    regLr: o.regLr,
    lagrangianWarmup: o.lagrangianWarmup ?? Math.round(0.1 * o.pruningSteps),
    taskWeights: o.taskWeights as [number, number],
    deltaL2: o.deltaL2,
    maskTypes: o.maskTypes as MaskType[],
    weightDecay: o.weightDecay,
    distill: { layerAlpha: o.distillLayerAlpha, predictionAlpha: o.distillPredictionAlpha, temperature: o.distillTemperature },
  });
  const dirs = o.sparsity.map((s) => sparsityDir(o.out, s, K));
  // Each target's snapshot is taken right after its last step (a resumed run retakes one whose
  // step it repeats: the same masks and weights, so the same files).
  phase.afterStep = async (step) => {
    if (step % o.pruningSteps === 0) await snapshot(run, o, inputs, model, phase, step / o.pruningSteps - 1, dirs);
  };
  try {
    await trainPhase(run, phase);
  } finally {
    phase.dispose();
    model.dispose();
    teacher?.dispose();
  }
  return { dense: model.config, snapshots: dirs.map((d) => JSON.parse(fs.readFileSync(path.join(d, 'snapshot.json'), 'utf8')) as Snapshot) };
}

/** Compaction of the model at target k: masks fitted to that budget, saved with the compacted model. */
async function snapshot(run: Run, o: PruneOptions, inputs: PruneInputs, model: Bert, phase: CofiPrunePhase, k: number, dirs: readonly string[]): Promise<void> {
  const sparsity = o.sparsity[k]!;
  const dir = dirs[k]!;
  const config = model.config;
  const masks = phase.masks.target;
  const expectedSparsity = await E.tidy(() => masks.expectedSparsity()).item();
  const fit = fitToBudget(config, await masks.deterministic(), await masks.logAlphas(), sparsity, masks.denseSize);
  run.info(`expected sparsity ${(expectedSparsity * 100).toFixed(2)}% (target ${(sparsity * 100).toFixed(2)}%); deterministic masks ${(fit.deterministicSparsity * 100).toFixed(2)}%; fitted to the budget: ${fit.removed} units removed, ${fit.restored} restored`);
  const values = await model.values();
  const c = compact(config, 'classification', values, fit.masks);
  const compacted = new Bert(c.config, 'classification', c.values);
  try {
    const before = await evaluate(compacted, inputs.target.dev, getTask(o.task), { batchSize: o.evalBatchSize ?? 2 * o.batchSize });
    const step = (k + 1) * o.pruningSteps;
    run.metrics.write({ phase: 'compact', step, ...(dirs.length > 1 ? { sparsity } : {}), eval: before.metrics, structure: fit.structure });
    fs.mkdirSync(dir, { recursive: true });
    await saveModel(compacted, path.join(dir, 'compacted'), { tokenizer: inputs.tokenizer });
    saveMasks(path.join(dir, 'masks.safetensors'), fit.masks);
    if (o.saveMasked) saveCheckpoint(path.join(dir, 'masked'), config, values, { tokenizer: inputs.tokenizer });
    const snap: Snapshot = { sparsity, dir, step, structure: fit.structure, deterministicSparsity: fit.deterministicSparsity, expectedSparsity, budgetFit: { removed: fit.removed, restored: fit.restored }, beforeFinetune: before.metrics };
    writeFileAtomic(path.join(dir, 'snapshot.json'), `${JSON.stringify(snap, null, 1)}\n`);
  } finally {
    compacted.dispose();
  }
}

/** Stage 2: fine-tuning a compacted model on the target task; the best model goes to DIR/pruned. */
async function finetuneStage(run: Run, o: PruneOptions, inputs: PruneInputs, snap: Snapshot): Promise<{ dev: Record<string, number>; steps: number }> {
  const task = getTask(o.task);
  const { model } = loadModel(path.join(snap.dir, 'compacted'), { head: 'classification', seed: o.seed });
  if (!o.trainEmbeddings) model.setTrainable((n) => n.startsWith('bert.embeddings.') && !n.includes('LayerNorm'), false);
  const prunedDir = path.join(snap.dir, 'pruned');
  const steps = o.finetuneSteps ?? totalSteps({ epochs: o.finetuneEpochs, batchSize: o.batchSize }, inputs.target.train.n);
  try {
    if (steps === 0) {
      await saveModel(model, prunedDir, { tokenizer: inputs.tokenizer });
      return { dev: snap.beforeFinetune, steps };
    }
    const phase = new FinetunePhase(model, { target: { task, train: inputs.target.train }, dev: inputs.target.dev }, {
      steps, lr: o.finetuneLr, batchSize: o.batchSize, warmupSteps: Math.round(0.1 * steps), weightDecay: o.weightDecay,
      evalEvery: Math.max(1, Math.round(steps / 10)), seed: o.seed + 1, maxGradNorm: 1, evalBatchSize: o.evalBatchSize ?? 2 * o.batchSize,
    }, { metrics: run.metrics, bestDir: prunedDir, tokenizer: inputs.tokenizer });
    try {
      await trainPhase(run, phase);
      return { dev: phase.outcome().best, steps };
    } finally {
      phase.dispose();
    }
  } finally {
    model.dispose();
  }
}

/** summary.json and structure.svg of one sparsity's finished model (in its directory). */
async function writeSummary(run: Run, o: PruneOptions, dense: BertConfig, p: Snapshot, f: { dev: Record<string, number>; steps: number }): Promise<PruneSummary> {
  const engine = E.getEngine();
  const pruned = loadModel(path.join(p.dir, 'pruned'), { head: 'classification', seed: 0 }).model;
  const remaining = parameterCount(pruned.config).total;
  pruned.dispose();
  const denseCount = parameterCount(dense);
  const summary: PruneSummary = {
    task: getTask(o.task).name,
    transfer: o.transfer ? getTask(o.transfer).name : null,
    method: methodOf(o),
    seed: o.seed,
    device: `${engine.gpu.description.vendor} ${engine.gpu.description.device} (${engine.gpu.description.description})`,
    sparsity: { target: p.sparsity, expected: p.expectedSparsity, achieved: 1 - remaining / denseCount.total, deterministic: p.deterministicSparsity },
    params: { prunable_dense: denseCount.total, prunable_remaining: remaining },
    structure: { hidden: p.structure.hidden, heads: p.structure.heads, intermediate: p.structure.intermediate },
    metrics: { before_finetune: p.beforeFinetune, dev: f.dev },
    steps: { pruning: o.pruningSteps, finetune: f.steps },
    seconds: run.seconds(),
    budget_fit: p.budgetFit,
  };
  const title = `${o.task}${summary.transfer ? ` + ${summary.transfer} (${summary.method})` : ''}: sparsity ${(summary.sparsity.achieved * 100).toFixed(1)}%`;
  writeFileAtomic(path.join(p.dir, 'structure.svg'), await structureSvg(p.structure, { heads: dense.numHeads, intermediate: dense.intermediateSize }, title));
  if (o.sparsity.length > 1) writeFileAtomic(path.join(p.dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}
