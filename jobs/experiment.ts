/**
 * The experiment job: one of Dery et al.'s tables or figures as its cells (experiments/cells.ts), each
 * cell a pipeline of jobs with several seeds, then DIR/results.{json,csv,md} and plots. Rerunning the
 * same command continues where it stopped (experiments/runner.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getTask } from '../data/tasks.ts';
import { runSpeedupBench } from '../bench/speedup.ts';
import { resolveModelSource } from '../hub/model.ts';
import { denseConfigOf } from './inputs.ts';
import { EXPERIMENTS, type CellSettings, experimentCells, type Step } from '../experiments/cells.ts';
import type { Executor, ExperimentCell } from '../experiments/executors/executor.ts';
import { localExecutor } from '../experiments/executors/local.ts';
import { SLURM_OPTIONS, type SlurmSettings, slurmExecutor } from '../experiments/executors/slurm.ts';
import { PAPER_GRID, gridCells, parseGrid } from '../experiments/grid.ts';
import { dataSizeCurves, methodBars, renderSvg, speedupCurve, structureBars } from '../experiments/plots.ts';
import { type TableEntry, csvTable, markdownTable, tabulate } from '../experiments/results.ts';
import { type CellResult, type RunCellsOptions, recordedResults } from '../experiments/runner.ts';
import { repoRoot } from '../data/paths.ts';
import { writeFileAtomic } from '../models/io/atomic.ts';
import { isNamedConfig } from '../models/load.ts';
import type { RunHooks } from '../training/run/run.ts';
import { DATA_OPTIONS, DEFAULT_MODEL, DEFAULT_SEED, RUN_OPTIONS } from './common_options.ts';
import { FINETUNE_OPTIONS } from './finetune.ts';
import { MULTITASK_OPTIONS } from './multitask.ts';
import { type AnyOption, type OptionInput, type OptionSpec, type OptionValues, type OptionsSpec, OptionError, defineOptions, flagName, opt, resolveOptions, within } from './options.ts';
import { PRUNE_OPTIONS } from './prune.ts';
import { RESTRUCTURE_OPTIONS } from './restructure.ts';
import { validateOutputDir } from '../training/output_dir.ts';

/** A job option without its default: the experiment passes it on only when given. */
export function passThrough<T>(o: OptionSpec<T, boolean>): OptionSpec<T, false> {
  return { ...o, default: undefined, required: false, trajectory: false } as OptionSpec<T, false>;
}

export const EXPERIMENT_OPTIONS = defineOptions({
  experiment: opt.choice('--experiment <name>', 'the table or figure', [...EXPERIMENTS, 'grid'] as const, 'how'),
  base: opt.choice('--base <name>', 'grid: the experiment whose cells are searched', EXPERIMENTS, 'how'),
  grid: opt.string.optional('--grid <axes>', "grid: axes instead of the paper's, e.g. 'lr=1e-4,2e-5;reg-lr=0.1,0.01;task-weights=1:1,2:1'"),
  model: opt.string('--model <dir|config>', 'pretrained encoder: checkpoint directory or config name', DEFAULT_MODEL),
  target: opt.string.required('--target <task>', 'target task T'),
  transfer: opt.string.optional('--transfer <task>', 'transfer task A (how, what, when; curve draws a transfer line with it)'),
  sparsity: opt.number('--sparsity <s>', 'target sparsity of how, what and when', 0.95, { valid: within(0, 1, true) }),
  sparsities: opt.numbers('--sparsities <list>', 'curve and data-size: target sparsities', [0.4, 0.7, 0.9, 0.95, 0.98], { valid: (ss) => (ss.every((x) => x > 0 && x < 1) ? null : 'must be in (0, 1)') }),
  fractions: opt.numbers('--fractions <list>', "data-size: fractions of T's training set", [0.05, 0.1, 0.5, 1], { valid: (fs) => (fs.every((x) => x > 0 && x <= 1) ? null : 'must be in (0, 1]') }),
  seeds: opt.count('--seeds <n>', 'seeds per cell (the first is --seed)', 3),
  seed: opt.natural('--seed <n>', 'first seed', DEFAULT_SEED),
  method: opt.choice('--method <m>', "curve: the transfer line's method", ['single-mask', 'multi-mask', 'delta'] as const, 'delta'),
  oneRun: opt.flag('--one-run', 'curve: one pruning run per line through every sparsity (prune --sparsity a,b,c) instead of one per sparsity'),
  reportSplit: opt.choice('--report-split <split>', 'split the table reports (selection is always on dev); test needs labelled test sets', ['dev', 'test'] as const, 'dev'),
  quick: opt.flag('--quick', 'reduced steps and data for the tiny encoder on a CPU (each option given still wins)'),
  dryRun: opt.flag('--dry-run', 'list the jobs of every cell and stop'),
  out: RUN_OPTIONS.out,
  pruningSteps: passThrough(PRUNE_OPTIONS.pruningSteps),
  finetuneSteps: passThrough(PRUNE_OPTIONS.finetuneSteps),
  finetuneEpochs: passThrough(PRUNE_OPTIONS.finetuneEpochs),
  batchSize: passThrough(PRUNE_OPTIONS.batchSize),
  lr: passThrough(PRUNE_OPTIONS.lr),
  regLr: passThrough(PRUNE_OPTIONS.regLr),
  finetuneLr: passThrough(PRUNE_OPTIONS.finetuneLr),
  lagrangianWarmup: passThrough(PRUNE_OPTIONS.lagrangianWarmup),
  taskWeights: passThrough(PRUNE_OPTIONS.taskWeights),
  deltaL2: passThrough(PRUNE_OPTIONS.deltaL2),
  dataDir: DATA_OPTIONS.dataDir,
  vocab: DATA_OPTIONS.vocab,
  maxSeqLength: passThrough(DATA_OPTIONS.maxSeqLength),
  maxTrain: DATA_OPTIONS.maxTrain,
  maxEval: DATA_OPTIONS.maxEval,
  checkpointEvery: passThrough(RUN_OPTIONS.checkpointEvery),
  logEvery: passThrough(RUN_OPTIONS.logEvery),
  benchBatchSize: opt.count('--bench-batch-size <n>', 'curve: batch size of the speedup measurement', 8),
  benchSeqLen: opt.count('--bench-seq-len <n>', 'curve: sequence length of the speedup measurement', 64),
  benchRepeats: opt.count('--bench-repeats <n>', 'curve: timed runs per model', 5),
  ...SLURM_OPTIONS,
});

export type ExperimentInput = OptionInput<typeof EXPERIMENT_OPTIONS>;
export type ExperimentOptions = ReturnType<typeof resolveOptions<typeof EXPERIMENT_OPTIONS>>;

/** --quick: steps, lengths and data for the tiny encoder on a CPU adapter. */
export const QUICK: Partial<ExperimentInput> = {
  pruningSteps: 40, finetuneSteps: 20, batchSize: 8, maxSeqLength: 32, maxTrain: 256, maxEval: 128, lagrangianWarmup: 10,
  lr: 1e-4, regLr: 0.1, finetuneLr: 1e-4, seeds: 2, checkpointEvery: 20, benchBatchSize: 4, benchSeqLen: 32, benchRepeats: 3,
};

/** What an experiment returns. */
export interface ExperimentSummary {
  experiment: string;
  cells: number;
  failed: number;
  table: TableEntry[];
  /** With --dry-run: the jobs, as command lines. */
  jobs?: string[];
  /** The results are written (false with --dry-run, --no-wait, or cells cancelled on SLURM). */
  complete: boolean;
  /** When not complete: what goes on and how to continue. */
  note?: string;
}

const defined = <T extends Record<string, unknown>>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** The cells' shared settings from the experiment's options. */
function cellSettings(o: ExperimentOptions): CellSettings {
  const data = defined({ dataDir: o.dataDir, vocab: o.vocab, maxSeqLength: o.maxSeqLength, maxTrain: o.maxTrain, maxEval: o.maxEval, batchSize: o.batchSize, checkpointEvery: o.checkpointEvery, logEvery: o.logEvery });
  return {
    out: o.out, model: o.model, target: o.target, transfer: o.transfer, sparsity: o.sparsity,
    seeds: Array.from({ length: o.seeds }, (_, i) => o.seed + i),
    method: o.method, sparsities: o.sparsities, fractions: o.fractions, oneRun: o.oneRun,
    prune: { ...data, ...defined({ pruningSteps: o.pruningSteps, finetuneSteps: o.finetuneSteps, finetuneEpochs: o.finetuneEpochs, lr: o.lr, regLr: o.regLr, finetuneLr: o.finetuneLr, lagrangianWarmup: o.lagrangianWarmup, taskWeights: o.taskWeights, deltaL2: o.deltaL2 }) },
    finetune: { ...data, ...defined({ steps: o.finetuneSteps || undefined, epochs: o.finetuneEpochs, lr: o.finetuneLr, taskWeights: o.taskWeights }) },
  };
}

const SPECS: Record<Step['kind'], OptionsSpec> = { prune: PRUNE_OPTIONS, finetune: FINETUNE_OPTIONS, restructure: RESTRUCTURE_OPTIONS, multitask: MULTITASK_OPTIONS };

/** A step as the command line that runs it. */
export function commandLine(step: Step): string {
  const spec = SPECS[step.kind];
  const args = Object.entries(step.input as Record<string, unknown>).flatMap(([k, v]) => {
    const o: AnyOption | undefined = spec[k];
    if (!o || v === undefined || v === false) return [];
    const flag = flagName(o.flag);
    return v === true ? [flag] : [flag, Array.isArray(v) ? v.join(',') : String(v)];
  });
  return `webprune ${step.kind} ${args.join(' ')}`;
}

/** An experiment planned from its options: the same options always give the same cells. */
export interface ExperimentPlan {
  /** The options as given (what a SLURM task plans from again). */
  given: Record<string, unknown>;
  /** Resolved, with --quick applied and --out absolute. */
  o: ExperimentOptions;
  name: string;
  cells: ExperimentCell[];
}

/**
 * The cells of an experiment from its options.
 * @throws OptionError for bad options; Error when the experiment needs --transfer and has none
 */
export function planExperiment(input: ExperimentInput | Record<string, unknown>): ExperimentPlan {
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  // --out absolute, here and in what is recorded: `experiment status DIR` and SLURM tasks find the
  // same records and locks whatever directory they run in.
  if (typeof given['out'] === 'string') given['out'] = path.resolve(given['out']);
  const o = resolveOptions(EXPERIMENT_OPTIONS, given['quick'] ? { ...QUICK, ...given } : given);
  const settings = cellSettings(o);
  const cells = o.experiment === 'grid' ? gridCells(o.base, settings, o.grid ? parseGrid(o.grid) : PAPER_GRID) : experimentCells(o.experiment, settings);
  const name = o.experiment === 'grid' ? `grid around ${o.base}` : o.experiment;
  return { given, o, name, cells };
}

/** The webprune version (package.json): a SLURM task refuses a submission made by another. */
export function webpruneVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** DIR/experiment.json: the options of the latest run of the experiment in DIR (what `experiment status` plans from). */
export const experimentFile = (out: string) => path.join(out, 'experiment.json');

/** How the runner runs this experiment's cells (the same for every executor). */
export function cellRunOptions(plan: ExperimentPlan, hooks: RunHooks): RunCellsOptions {
  const { o } = plan;
  return {
    dense: () => denseConfigOf(o.model), reportSplit: o.reportSplit, target: o.target, hooks,
    evalOptions: defined({ dataDir: o.dataDir, vocab: o.vocab, maxSeqLength: o.maxSeqLength }),
  };
}

/** The command that starts webprune on a compute node: --webprune-command, else this process's own. */
function nodeCommand(o: SlurmOptionValues): string[] {
  if (o.webpruneCommand) return o.webpruneCommand.trim().split(/\s+/);
  const script = process.argv[1] ?? '';
  if (/webprune(\.(mjs|js|ts))?$/.test(script)) return [process.execPath, ...process.execArgv, path.resolve(script)];
  throw new OptionError(`--webprune-command is needed: this process (${script}) is not the webprune command line, so the compute nodes' command cannot be derived from it`);
}

/** The SLURM options of an experiment (SLURM_OPTIONS), as the SLURM executor takes them. */
export type SlurmOptionValues = OptionValues<typeof SLURM_OPTIONS>;

/** The SLURM executor's settings from an experiment's options. @throws OptionError when the nodes' command cannot be derived */
export function slurmSettings(o: SlurmOptionValues): SlurmSettings {
  return {
    ...defined({ partition: o.partition, account: o.account, time: o.time, gres: o.gres, mem: o.mem, sbatchArg: o.sbatchArg, maxRunning: o.maxRunning }),
    wait: o.wait, retries: o.retries, signalBefore: o.signalBefore, pollEvery: o.pollEvery, command: nodeCommand(o),
  };
}

/** The executor the options choose. */
function executorFor(plan: ExperimentPlan, hooks: RunHooks, info: (m: string) => void): Executor {
  const { o, cells } = plan;
  if (o.executor === 'slurm') return slurmExecutor(slurmSettings(o), { experiment: plan.given, name: plan.name, webprune: webpruneVersion(), planner: 'experiment' }, info);
  const mainMetric = getTask(o.target).metricNames[0]!;
  const started = performance.now();
  let ran = 0;
  const soFar: CellResult[] = [];
  return localExecutor({
    ...cellRunOptions(plan, hooks),
    onCell: (r, i, seconds) => {
      ran++;
      soFar.push(r);
      const perCell = (performance.now() - started) / 1000 / ran;
      const remaining = cells.length - i - 1;
      const what = r.status === 'done' ? `${mainMetric} ${r.dev?.[mainMetric]?.toFixed(4)}` : `FAILED: ${r.error}`;
      info(`[${i + 1}/${cells.length}] ${r.id}: ${what} (${seconds.toFixed(0)} s; ETA ${Math.round((perCell * remaining) / 60)} min)`);
      info(markdownTable(tabulate(soFar, mainMetric), mainMetric, 'dev'));
    },
  });
}

/**
 * Runs (or continues) an experiment and writes its results: its cells run here one after another,
 * or on SLURM as a job array (--executor slurm); with --no-wait, or when cells were cancelled, it
 * returns before the results exist (complete: false, and a note saying how to continue).
 * @throws OptionError for bad options; ResumeRefusedError naming the cell when its options changed
 *   since it ran; RunStopped when a signal stopped it (rerun to continue); SlurmError with a SLURM
 *   tool's own message
 */
export async function experimentJob(input: ExperimentInput, context: { hooks?: RunHooks } = {}): Promise<ExperimentSummary> {
  const plan = planExperiment(input);
  const { o, cells, name } = plan;
  const info = context.hooks?.info ?? ((m: string) => void process.stderr.write(`${m}\n`));
  if (o.dryRun) {
    const jobs = [...new Set(cells.flatMap((c) => c.steps.map(commandLine)))];
    return { experiment: name, cells: cells.length, failed: 0, table: [], jobs, complete: false };
  }
  validateOutputDir(o.out, '--out'); // refuses /proc, files, read-only or full places (mkdir under /proc never returns)
  writeFileAtomic(experimentFile(o.out), `${JSON.stringify({ webprune: webpruneVersion(), experiment: plan.given }, null, 1)}\n`);
  info(`${name}: ${cells.length} cells (${new Set(cells.map((c) => c.column)).size} columns × ${o.seeds} seeds${o.experiment === 'grid' ? ' × grid' : ''}) in ${o.out}`);
  // The cells' jobs are quiet: the experiment prints one line per cell and the table so far.
  const hooks: RunHooks = { ...context.hooks, info: () => {}, quiet: true };
  const outcome = await executorFor(plan, hooks, info).run(o.out, cells);
  if (!outcome.complete) {
    if (outcome.note) info(outcome.note);
    return { experiment: name, cells: cells.length, failed: 0, table: [], complete: false, ...(outcome.note ? { note: outcome.note } : {}) };
  }
  return writeExperimentResults(plan, info);
}

/**
 * The writing step alone: every cell's recorded result → (curve: the speedups measured here) →
 * DIR/results.{json,csv,md} and the plots.
 * @throws Error naming a cell without a result
 */
export async function writeExperimentResults(plan: ExperimentPlan, info: (m: string) => void): Promise<ExperimentSummary> {
  const { o, cells, name } = plan;
  const mainMetric = getTask(o.target).metricNames[0]!;
  const results = recordedResults(o.out, cells);
  const speedups = o.experiment === 'curve' || (o.experiment === 'grid' && o.base === 'curve') ? await measureSpeedups(o, results, info) : new Map();
  const table = tabulate(results, mainMetric, speedups);
  await writeResults(o, name, mainMetric, results, table);
  const failed = results.filter((r) => r.status === 'failed').length;
  info(`wrote ${path.join(o.out, 'results.md')}, results.json, results.csv and plots${failed ? ` (${failed} cells failed: see results.md)` : ''}`);
  return { experiment: name, cells: cells.length, failed, table, complete: true };
}

/** Curve: every finished model's inference speedup over the dense model, measured in one run. */
async function measureSpeedups(o: ExperimentOptions, results: readonly CellResult[], info: (m: string) => void): Promise<Map<string, { measured: number; ideal: number }>> {
  const models = [...new Set(results.filter((r) => r.status === 'done').map((r) => r.model!))];
  if (models.length === 0) return new Map();
  info(`measuring the inference speedup of ${models.length} models beside the dense one (batch ${o.benchBatchSize}, length ${o.benchSeqLen})`);
  const report = await runSpeedupBench({ model: await resolveModelSource(o.model), sparsities: [], checkpoints: models, batchSize: o.benchBatchSize, seqLen: o.benchSeqLen, repeats: o.benchRepeats });
  writeFileAtomic(path.join(o.out, 'speedup.json'), `${JSON.stringify(report, null, 1)}\n`);
  return new Map(report.rows.filter((r) => r.model_dir).map((r) => [r.model_dir!, { measured: r.speedup, ideal: r.ideal_speedup }]));
}

/** results.json, results.csv, results.md and the plots. */
async function writeResults(o: ExperimentOptions, name: string, mainMetric: string, results: readonly CellResult[], table: TableEntry[]): Promise<void> {
  const m = { metric: mainMetric, split: o.reportSplit };
  const title = `${name}: ${o.target}${o.transfer ? ` with ${o.transfer}` : ''}${o.experiment === 'curve' || o.experiment === 'data-size' ? '' : `, sparsity ${o.sparsity}`}`;
  const notes = [
    `${o.reportSplit} ${mainMetric} of each cell's final model: mean ± sample standard deviation over seeds, and the best seed (Dery et al. report single best runs)`,
    "The paper's own numbers are not shown: its tables could not be read from any source reachable from these machines.",
  ];
  if (isNamedConfig(o.model)) notes.push(`--model ${o.model} is a randomly initialised encoder: its scores sit near the majority class or chance, and say nothing about the methods.`);
  const failed = results.filter((r) => r.status === 'failed');
  const md = [
    `# ${title}`,
    '',
    markdownTable(table, mainMetric, o.reportSplit),
    '',
    ...notes.map((n) => `- ${n}`),
    ...(failed.length ? ['', '## Failed cells', '', ...failed.map((r) => `- ${r.id}: ${r.error}${r.log ? ` (log: ${r.log})` : ''}`)] : []),
    '',
  ].join('\n');
  writeFileAtomic(path.join(o.out, 'results.md'), md);
  writeFileAtomic(path.join(o.out, 'results.csv'), csvTable(table));
  writeFileAtomic(path.join(o.out, 'results.json'), `${JSON.stringify({ experiment: name, target: o.target, transfer: o.transfer ?? null, model: o.model, main_metric: mainMetric, split: o.reportSplit, table, cells: results, notes }, null, 1)}\n`);
  const plots: Array<[string, Record<string, unknown>]> = [];
  const base = o.experiment === 'grid' ? o.base : o.experiment;
  if (base === 'curve') plots.push(['curve.svg', speedupCurve(table, m, title)]);
  else if (base === 'data-size') plots.push(['data-size.svg', dataSizeCurves(table, m, title)]);
  else plots.push(['methods.svg', methodBars(table, m, title)]);
  if (base === 'how') plots.push(['structure.svg', structureBars(results, `${title}: structure (seed ${o.seed})`)]);
  for (const [file, spec] of plots) writeFileAtomic(path.join(o.out, file), await renderSvg(spec));
}
