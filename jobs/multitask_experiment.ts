/**
 * `webprune experiment multitask-vs-ensemble` (Xia & Shin 2021): the multitask model at each budget
 * B against the even and the best ensemble of single-task models that together fit B, for each
 * strategy (experiments/multitask_cells.ts, experiments/ensemble.ts). Every model is a multitask
 * job run as an experiment cell by an executor (experiments/executors/: here, or on SLURM with
 * --executor slurm, whose array tasks plan the cells again through MULTITASK_PLANNER): rerunning the
 * same command continues where it stopped and skips finished cells; `experiment status DIR` works as
 * for the other experiments. Writes DIR/results.{md,json,csv} and DIR/average-vs-budget.svg.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getTask } from '../data/tasks.ts';
import { comparisonCsv, comparisonMarkdown, comparisonTable, type ComparisonTable, averageVsBudgetSvg } from '../experiments/ensemble.ts';
import type { Executor, ExperimentCell } from '../experiments/executors/executor.ts';
import { localExecutor } from '../experiments/executors/local.ts';
import { SLURM_OPTIONS, slurmExecutor } from '../experiments/executors/slurm.ts';
import { type ComparisonCell, type MultitaskExperimentSettings, aloneBudgets, multitaskComparisonCells } from '../experiments/multitask_cells.ts';
import { type CellResult, type RunCellsOptions, recordedResults } from '../experiments/runner.ts';
import { writeFileAtomic } from '../models/io/atomic.ts';
import { isNamedConfig } from '../models/load.ts';
import { STRATEGIES, type StrategyName } from '../pruning/strategy.ts';
import type { RunHooks } from '../training/run/run.ts';
import { DEFAULT_MODEL, DEFAULT_SEED, RUN_OPTIONS } from './common_options.ts';
import { commandLine, experimentFile, passThrough, slurmSettings, webpruneVersion } from './experiment.ts';
import { denseConfigOf } from './inputs.ts';
import { LOW_RESOURCE_FRACTION, MULTITASK_OPTIONS, MULTITASK_QUICK } from './multitask.ts';
import { type OptionInput, OptionError, defineOptions, opt, resolveOptions } from './options.ts';

const M = MULTITASK_OPTIONS;
const budgetList = (bs: readonly number[]) => (bs.every((b) => b > 0 && b <= 1) ? null : 'must be in (0, 1]');

export const MULTITASK_EXPERIMENT_OPTIONS = defineOptions({
  tasks: opt.list.required('--tasks <list>', 'the tasks (at least 2): mrpc, stsb, sciie, citation_intent, or [regression:](tsv|jsonl):DIR', {
    valid: (ts) => (ts.length < 2 ? 'must name at least 2 tasks' : new Set(ts).size !== ts.length ? 'must name each task once' : null),
  }),
  strategy: opt.list('--strategy <s[,s...]>', `pruning strategies, a table section each: ${STRATEGIES.join(', ')}`, ['rank'], {
    valid: (ss) => (ss.every((s) => (STRATEGIES as readonly string[]).includes(s)) ? null : `must be a comma list of ${STRATEGIES.join(', ')}`),
  }),
  budgets: opt.numbers('--budgets <list>', "budgets B: fractions of the encoder's prunable parameters kept, by the multitask model and by each ensemble in all", [0.05, 0.1, 0.2], { valid: budgetList }),
  ensembleBudgets: opt.numbers.optional('--ensemble-budgets <list>', 'further single-task budgets the best ensemble may allocate (always searched: B/k for each B)', { valid: budgetList }),
  lowResource: M.lowResource,
  fraction: M.fraction,
  model: opt.string('--model <dir|config>', 'pretrained encoder: checkpoint directory or config name', DEFAULT_MODEL),
  seeds: opt.count('--seeds <n>', 'seeds per model (the first is --seed); the table shows means', 1),
  seed: opt.natural('--seed <n>', 'first seed', DEFAULT_SEED),
  quick: opt.flag('--quick', 'reduced steps and data for the tiny encoder on a CPU (each option given still wins)'),
  dryRun: opt.flag('--dry-run', 'list the jobs of every cell and stop'),
  out: RUN_OPTIONS.out,
  steps: passThrough(M.steps),
  batchSize: passThrough(M.batchSize),
  lr: passThrough(M.lr),
  maskLr: passThrough(M.maskLr),
  lagrangianLr: passThrough(M.lagrangianLr),
  lagrangianWarmup: passThrough(M.lagrangianWarmup),
  initialLogAlpha: passThrough(M.initialLogAlpha),
  maskTypes: passThrough(M.maskTypes),
  taskSampling: passThrough(M.taskSampling),
  lossWeights: passThrough(M.lossWeights),
  weightDecay: passThrough(M.weightDecay),
  evalBatchSize: M.evalBatchSize,
  dataDir: M.dataDir,
  vocab: M.vocab,
  maxSeqLength: passThrough(M.maxSeqLength),
  maxTrain: M.maxTrain,
  maxEval: M.maxEval,
  dataSeed: passThrough(M.dataSeed),
  checkpointEvery: passThrough(RUN_OPTIONS.checkpointEvery),
  logEvery: passThrough(RUN_OPTIONS.logEvery),
  ...SLURM_OPTIONS,
});

export type MultitaskExperimentInput = OptionInput<typeof MULTITASK_EXPERIMENT_OPTIONS>;
type MultitaskExperimentOptions = ReturnType<typeof resolveOptions<typeof MULTITASK_EXPERIMENT_OPTIONS>>;

/** --quick: the multitask job's quick settings, one seed. */
export const MULTITASK_EXPERIMENT_QUICK: Partial<MultitaskExperimentInput> = { ...(MULTITASK_QUICK as Partial<MultitaskExperimentInput>), seeds: 1 };

export interface MultitaskExperimentSummary {
  experiment: 'multitask-vs-ensemble';
  cells: number;
  failed: number;
  table: ComparisonTable | null;
  /** With --dry-run: the jobs, as command lines. */
  jobs?: string[];
  /** The results are written (false with --dry-run, --no-wait, or cells cancelled on SLURM). */
  complete: boolean;
  /** When not complete: what goes on and how to continue. */
  note?: string;
}

const defined = <T extends Record<string, unknown>>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** The cells' settings from the experiment's options. @throws OptionError for options that disagree */
function settingsOf(o: MultitaskExperimentOptions): MultitaskExperimentSettings {
  for (const t of o.tasks) getTask(t);
  if (o.lowResource !== undefined && !o.tasks.includes(o.lowResource)) throw new OptionError(`--low-resource ${o.lowResource} is not one of --tasks (${o.tasks.join(', ')})`);
  if (o.fraction !== undefined && o.lowResource === undefined) throw new OptionError('--fraction applies to the --low-resource task: name it with --low-resource TASK');
  if (o.lossWeights && o.lossWeights.length !== o.tasks.length) throw new OptionError(`--loss-weights needs one weight per task (${o.tasks.length}), got ${o.lossWeights.length}`);
  return {
    out: o.out, model: o.model, tasks: o.tasks, strategies: o.strategy as StrategyName[], budgets: o.budgets, ensembleBudgets: o.ensembleBudgets ?? [],
    seeds: Array.from({ length: o.seeds }, (_, i) => o.seed + i), lowResource: o.lowResource, fraction: o.fraction,
    job: defined({
      steps: o.steps, batchSize: o.batchSize, lr: o.lr, maskLr: o.maskLr, lagrangianLr: o.lagrangianLr, lagrangianWarmup: o.lagrangianWarmup, initialLogAlpha: o.initialLogAlpha,
      maskTypes: o.maskTypes, weightDecay: o.weightDecay, evalBatchSize: o.evalBatchSize, dataDir: o.dataDir, vocab: o.vocab, maxSeqLength: o.maxSeqLength, maxTrain: o.maxTrain,
      maxEval: o.maxEval, dataSeed: o.dataSeed, checkpointEvery: o.checkpointEvery, logEvery: o.logEvery,
    }),
    multitask: defined({ taskSampling: o.taskSampling, lossWeights: o.lossWeights }),
  };
}

/** The comparison planned from its options: the same options always give the same cells. */
export interface MultitaskExperimentPlan {
  /** The options as given (what a SLURM task plans from again). */
  given: Record<string, unknown>;
  /** Resolved, with --quick applied and --out absolute. */
  o: MultitaskExperimentOptions;
  name: 'multitask-vs-ensemble';
  settings: MultitaskExperimentSettings;
  cells: ExperimentCell[];
  /** What each cell is, in the order of `cells`. */
  what: ComparisonCell[];
}

/** The name SLURM submissions and DIR/experiment.json record for this experiment's planner (jobs/experiment_task.ts). */
export const MULTITASK_PLANNER = 'multitask-vs-ensemble';

/**
 * The cells of the comparison from its options.
 * @throws OptionError for bad options; Error naming an unknown task
 */
export function planMultitaskExperiment(input: MultitaskExperimentInput | Record<string, unknown>): MultitaskExperimentPlan {
  const given = defined(input as Record<string, unknown>);
  // --out absolute, as planExperiment: status and SLURM tasks find the same records from any directory.
  if (typeof given['out'] === 'string') given['out'] = path.resolve(given['out']);
  const o = resolveOptions(MULTITASK_EXPERIMENT_OPTIONS, given['quick'] ? { ...MULTITASK_EXPERIMENT_QUICK, ...given } : given);
  const settings = settingsOf(o);
  const planned = multitaskComparisonCells(settings);
  return { given, o, name: 'multitask-vs-ensemble', settings, cells: planned.map((p) => p.cell), what: planned.map((p) => p.what) };
}

/** How the runner runs the comparison's cells (the same for every executor). */
export function multitaskCellRunOptions(plan: MultitaskExperimentPlan, hooks: RunHooks): RunCellsOptions {
  return { dense: () => denseConfigOf(plan.o.model), reportSplit: 'dev', target: plan.o.tasks[0]!, hooks, evalOptions: {} };
}

/** The executor the options choose: SLURM (one cell per array task), or here with a line per cell. */
function executorFor(plan: MultitaskExperimentPlan, hooks: RunHooks, info: (m: string) => void): Executor {
  const { o, cells } = plan;
  if (o.executor === 'slurm') return slurmExecutor(slurmSettings(o), { experiment: plan.given, name: plan.name, webprune: webpruneVersion(), planner: MULTITASK_PLANNER }, info);
  const started = performance.now();
  let ran = 0;
  return localExecutor({
    ...multitaskCellRunOptions(plan, hooks),
    onCell: (r, i, seconds) => {
      ran++;
      const eta = (((performance.now() - started) / 1000 / ran) * (cells.length - i - 1)) / 60;
      const what = r.status === 'done' ? `average ${r.dev?.['average']?.toFixed(4)}, kept ${((1 - (r.sparsity ?? 1)) * 100).toFixed(2)}%` : `FAILED: ${r.error}`;
      info(`[${i + 1}/${cells.length}] ${r.id}: ${what} (${seconds.toFixed(0)} s; ETA ${Math.round(eta)} min)`);
    },
  });
}

/**
 * Runs (or continues) the comparison, here or on SLURM (--executor slurm), and writes its results;
 * with --no-wait, or when cells were cancelled, it returns before the results exist (complete:
 * false, and a note saying how to continue).
 * @throws OptionError for bad options; ResumeRefusedError naming the cell when its options changed
 *   since it ran; RunStopped when a signal stopped it (rerun to continue); SlurmError with a SLURM
 *   tool's own message
 */
export async function multitaskExperimentJob(input: MultitaskExperimentInput, context: { hooks?: RunHooks } = {}): Promise<MultitaskExperimentSummary> {
  const plan = planMultitaskExperiment(input);
  const { o, cells } = plan;
  if (o.dryRun) return { experiment: plan.name, cells: cells.length, failed: 0, table: null, complete: false, jobs: cells.flatMap((c) => c.steps.map(commandLine)) };
  const info = context.hooks?.info ?? ((m: string) => void process.stderr.write(`${m}\n`));
  fs.mkdirSync(o.out, { recursive: true });
  writeFileAtomic(experimentFile(o.out), `${JSON.stringify({ webprune: webpruneVersion(), planner: MULTITASK_PLANNER, experiment: plan.given }, null, 1)}\n`);
  info(`multitask-vs-ensemble: ${cells.length} models (${plan.settings.strategies.join(', ')}; budgets ${o.budgets.join(', ')}; ${o.tasks.length} tasks; ${o.seeds} seed${o.seeds > 1 ? 's' : ''}) in ${o.out}`);
  // The cells' jobs are quiet: the experiment prints one line per cell.
  const hooks: RunHooks = { ...context.hooks, info: () => {}, quiet: true };
  const outcome = await executorFor(plan, hooks, info).run(o.out, cells);
  if (!outcome.complete) {
    if (outcome.note) info(outcome.note);
    return { experiment: plan.name, cells: cells.length, failed: 0, table: null, complete: false, ...(outcome.note ? { note: outcome.note } : {}) };
  }
  return writeMultitaskResults(plan, info);
}

/**
 * The writing step alone: every cell's recorded result → the table → DIR/results.{md,json,csv}
 * and average-vs-budget.svg.
 * @throws Error naming a cell without a result
 */
export async function writeMultitaskResults(plan: MultitaskExperimentPlan, info: (m: string) => void): Promise<MultitaskExperimentSummary> {
  const { o, cells, settings } = plan;
  const results = recordedResults(o.out, cells);
  const tasks = o.tasks.map((t) => getTask(t).name);
  const mainMetric = Object.fromEntries(o.tasks.map((t) => [getTask(t).name, getTask(t).metricNames[0]!]));
  const grid = aloneBudgets({ ...settings, lowResource: undefined }, '');
  const table = comparisonTable(plan.what.map((what, i) => ({ what, result: results[i]! })), { tasks, mainMetric, strategies: settings.strategies, budgets: o.budgets, grid, lowResource: o.lowResource ? getTask(o.lowResource).name : undefined });
  await writeResults(o, settings, table, results);
  const failed = results.filter((r) => r.status === 'failed').length;
  info(`wrote ${path.join(o.out, 'results.md')}, results.json, results.csv and average-vs-budget.svg${failed ? ` (${failed} cells failed: see results.md)` : ''}`);
  return { experiment: plan.name, cells: cells.length, failed, table, complete: true };
}

/** results.md, results.json, results.csv and the plot. */
async function writeResults(o: MultitaskExperimentOptions, settings: MultitaskExperimentSettings, table: ComparisonTable, results: readonly CellResult[]): Promise<void> {
  const title = `multitask vs ensemble: ${table.tasks.join(', ')} (${o.model})`;
  const notes = [
    `each task's main dev metric (${table.tasks.map((t) => `${t}: ${table.mainMetric[t]}`).join(', ')}), mean over ${o.seeds} seed${o.seeds > 1 ? 's' : ''}; average: their mean (a correlation left undefined by constant predictions counts as 0)`,
    "budget B: the fraction of the encoder's prunable parameters (attention and FFN weights and biases) kept, by the multitask model, or by the k single-task models together; embeddings, which an ensemble holds k times, are not counted",
    `best ensemble: the allocation over the single-task budgets (${aloneBudgets({ ...settings, lowResource: undefined }, '').join(', ')}) with Σ B_t ≤ B and the highest mean dev metric, chosen and reported on the same dev sets (an upper bound for the ensemble)`,
    'no fine-tuning after pruning: the weights train with the masks ("pruning during fine-tuning"); element-wise models are dense checkpoints with exact zeros (no speedup with dense GEMMs)',
  ];
  if (o.lowResource) notes.push(`low-resource: ${o.lowResource} trains on ${(o.fraction ?? LOW_RESOURCE_FRACTION) * 100}% of its training set in every model it is part of`);
  if (isNamedConfig(o.model)) notes.push(`--model ${o.model} is a randomly initialised encoder: its scores sit near the majority class or chance, and say nothing about the strategies.`);
  const failed = results.filter((r) => r.status === 'failed');
  const md = [`# ${title}`, '', comparisonMarkdown(table), ...notes.map((n) => `- ${n}`), ...(failed.length ? ['', '## Failed cells', '', ...failed.map((r) => `- ${r.id}: ${r.error}`)] : []), ''].join('\n');
  writeFileAtomic(path.join(o.out, 'results.md'), md);
  writeFileAtomic(path.join(o.out, 'results.csv'), comparisonCsv(table));
  writeFileAtomic(path.join(o.out, 'results.json'), `${JSON.stringify({ experiment: 'multitask-vs-ensemble', model: o.model, tasks: table.tasks, main_metric: table.mainMetric, strategies: o.strategy, budgets: o.budgets, rows: table.rows, low_resource: table.lowResource, cells: results, notes }, null, 1)}\n`);
  writeFileAtomic(path.join(o.out, 'average-vs-budget.svg'), await averageVsBudgetSvg(table, title));
}
