/**
 * Runs an experiment's cells, each as its pipeline of jobs, in order. Rerunning continues: a cell
 * whose result is recorded (DIR/results/CELL.json, for the same steps) is skipped; a cell killed
 * mid-job resumes from the job's checkpoint (every job runs with resume); a job whose options
 * changed is refused by its run (the message names the cell and the option). A cell that fails
 * (NaN, bad data) is recorded as failed with its error and the others go on; a rerun retries it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { evalJob } from '../jobs/finetune.ts';
import { finetuneJob } from '../jobs/finetune.ts';
import type { JobResult } from '../jobs/job.ts';
import { pruneJob } from '../jobs/prune.ts';
import { restructureJob } from '../jobs/restructure.ts';
import { parameterCount, readConfig, type BertConfig } from '../models/config.ts';
import { writeFileAtomic } from '../models/io/atomic.ts';
import type { PruneSummary } from '../pruning/report.ts';
import { ResumeRefusedError, type RunHooks, RunStopped } from '../training/run/run.ts';
import type { Cell, Step } from './cells.ts';

/** The outcome of one cell. */
export interface CellResult {
  id: string;
  column: string;
  row: Record<string, number>;
  seed: number;
  /** Grid search: the hyper-parameters of this variant. */
  variant?: Record<string, unknown>;
  status: 'done' | 'failed';
  /** The target's dev metrics of the cell's final model. */
  dev?: Record<string, number>;
  /** With --report-split test: its test metrics. */
  test?: Record<string, number>;
  error?: string;
  /** The final model's directory, prunable parameters, sparsity and structure. */
  model?: string;
  params?: number;
  sparsity?: number;
  structure?: { hidden: number; heads: number[]; intermediate: number[] };
}

export interface RunCellsOptions {
  /** The dense model's config (for the sparsity of each cell's model). */
  dense: BertConfig;
  reportSplit: 'dev' | 'test';
  /** Options for the test-split evaluation (data root, vocabulary, sequence length). */
  evalOptions: { dataDir?: string; vocab?: string; maxSeqLength?: number };
  target: string;
  hooks: RunHooks;
  /** Called after each cell with its result, its index and the seconds it took. */
  onCell?: (result: CellResult, index: number, seconds: number) => void;
}

/** A stable hash of a cell's steps (what a recorded result was computed from). */
function cellSpec(cell: Cell): string {
  return createHash('sha256').update(JSON.stringify(cell.steps)).digest('hex').slice(0, 16);
}

function resultFile(out: string, cell: Cell): string {
  return path.join(out, 'results', `${cell.id.replaceAll('/', '__')}.json`);
}

async function runStep(step: Step, hooks: RunHooks): Promise<unknown> {
  let result: JobResult<unknown>;
  if (step.kind === 'prune') result = await pruneJob(step.input, { hooks });
  else if (step.kind === 'finetune') result = await finetuneJob(step.input, { hooks });
  else result = await restructureJob(step.input, { hooks });
  if (result.status === 'stopped') throw new RunStopped(result.reason, `${step.kind} ${step.out}`, result.step);
  return result.summary;
}

/** The target's dev metrics a cell's last step reports. */
function devMetrics(cell: Cell, summary: unknown): Record<string, number> {
  const last = cell.steps.at(-1)!;
  if (last.kind === 'finetune') return (summary as { best: Record<string, number> }).best;
  const s = summary as PruneSummary;
  const sparsity = cell.row['sparsity'];
  const own = s.by_sparsity && sparsity !== undefined ? s.by_sparsity.find((x) => x.sparsity.target === sparsity) : s;
  if (!own) throw new Error(`${last.out}: no result for sparsity ${sparsity}`);
  return own.metrics.dev;
}

/** Runs one cell's steps and describes its final model. */
async function runCell(cell: Cell, o: RunCellsOptions): Promise<CellResult> {
  let summary: unknown;
  for (const step of cell.steps) summary = await runStep(step, o.hooks);
  const config = readConfig(cell.model);
  const params = parameterCount(config).total;
  const result: CellResult = {
    id: cell.id, column: cell.column, row: cell.row, seed: cell.seed, status: 'done', dev: devMetrics(cell, summary), model: cell.model, params,
    sparsity: 1 - params / parameterCount(o.dense).total,
    structure: { hidden: config.hiddenSize, heads: config.layers.map((l) => l.numHeads), intermediate: config.layers.map((l) => l.intermediateSize) },
  };
  if (o.reportSplit === 'test') result.test = await evalJob({ model: cell.model, task: o.target, split: 'test', ...o.evalOptions });
  return result;
}

/**
 * Runs every cell not yet recorded, in order.
 * @throws ResumeRefusedError naming the cell when a job's options changed since it ran; RunStopped
 *   when a signal stopped a job (rerun to continue)
 */
export async function runCells(out: string, cells: readonly (Cell & { variant?: Record<string, unknown> })[], o: RunCellsOptions): Promise<CellResult[]> {
  const results: CellResult[] = [];
  for (const [i, cell] of cells.entries()) {
    const file = resultFile(out, cell);
    const spec = cellSpec(cell);
    const recorded = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { spec: string; result: CellResult }) : null;
    if (recorded && recorded.spec === spec && recorded.result.status === 'done') {
      results.push(recorded.result);
      continue;
    }
    const started = performance.now();
    let result: CellResult;
    try {
      result = await runCell(cell, o);
    } catch (err) {
      if (err instanceof ResumeRefusedError) throw new ResumeRefusedError(`cell ${cell.id}: ${err.message}`);
      if (err instanceof RunStopped) throw err;
      result = { id: cell.id, column: cell.column, row: cell.row, seed: cell.seed, status: 'failed', error: (err as Error).message };
    }
    if (cell.variant) result.variant = cell.variant;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, `${JSON.stringify({ spec, result }, null, 1)}\n`);
    results.push(result);
    o.onCell?.(result, i, (performance.now() - started) / 1000);
  }
  return results;
}
