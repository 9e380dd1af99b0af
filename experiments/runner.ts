/**
 * Runs an experiment's cells, each as its pipeline of jobs, in order. Rerunning continues: a cell
 * whose result is recorded (DIR/results/CELL.json, for the same steps) is skipped; a cell killed
 * mid-job resumes from the job's checkpoint (every job runs with resume); a job whose options
 * changed is refused by its run (the message names the cell and the option). A cell that fails
 * (NaN, bad data) is recorded as failed with its error and the others go on; a rerun retries it.
 *
 * This module is the one place that knows a cell's state (cellState): done or failed when its
 * record names its current steps, running while a live process or SLURM job holds its lock
 * (experiments/lock.ts), else pending. Executors (experiments/executors/) decide where cells run.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { evalJob } from '../jobs/finetune.ts';
import { finetuneJob } from '../jobs/finetune.ts';
import type { JobResult } from '../jobs/job.ts';
import { multitaskCellResult, multitaskJob } from '../jobs/multitask.ts';
import { pruneJob } from '../jobs/prune.ts';
import { restructureJob } from '../jobs/restructure.ts';
import { parameterCount, readConfig, type BertConfig } from '../models/config.ts';
import { writeFileAtomic } from '../models/io/atomic.ts';
import type { PruneSummary } from '../pruning/report.ts';
import { ResumeRefusedError, type RunHooks, RunStopped } from '../training/run/run.ts';
import type { Cell, Step } from './cells.ts';
import { type JobAlive, type LockOwner, currentOwner, describeOwner, lockHolder, tryLock, waitLock } from './lock.ts';

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
  /** A failed cell's log (a SLURM task's output file). */
  log?: string;
  /** The final model's directory, prunable parameters, sparsity and structure. */
  model?: string;
  params?: number;
  sparsity?: number;
  structure?: { hidden: number; heads: number[]; intermediate: number[] };
}

export interface RunCellsOptions {
  /** The dense model's config (for the sparsity of each cell's model); asked once a cell is done. */
  dense: () => Promise<BertConfig>;
  reportSplit: 'dev' | 'test';
  /** Options for the test-split evaluation (data root, vocabulary, sequence length). */
  evalOptions: { dataDir?: string; vocab?: string; maxSeqLength?: number };
  target: string;
  hooks: RunHooks;
  /** Called after each cell this process ran, with its result, its index and the seconds it took. */
  onCell?: (result: CellResult, index: number, seconds: number) => void;
  /** Asked between a cell's steps: true stops the cell (RunStopped) before the next one. */
  shouldStop?: () => boolean;
  /** The file this process's output goes to (a SLURM task's log), recorded with a failure. */
  log?: string;
}

/** A stable hash of a cell's steps (what a recorded result was computed from). */
export function cellSpec(cell: Cell): string {
  return createHash('sha256').update(JSON.stringify(cell.steps)).digest('hex').slice(0, 16);
}

/** DIR/results/ID.json: the cell's record. */
export function resultFile(out: string, cell: Cell): string {
  return `${cellPath(out, cell)}.json`;
}

/** DIR/results/ID: the record is ID.json, the cell's lock ID.lock (lockFileOf). */
function cellPath(out: string, cell: Cell): string {
  return path.join(out, 'results', cell.id.replaceAll('/', '__'));
}

async function runStep(step: Step, hooks: RunHooks): Promise<unknown> {
  let result: JobResult<unknown>;
  if (step.kind === 'prune') result = await pruneJob(step.input, { hooks });
  else if (step.kind === 'finetune') result = await finetuneJob(step.input, { hooks });
  else if (step.kind === 'multitask') result = await multitaskJob(step.input, { hooks });
  else result = await restructureJob(step.input, { hooks });
  if (result.status === 'stopped') throw new RunStopped(result.reason, `${step.kind} ${step.out}`, result.step);
  return result.summary;
}

/** The target's dev metrics a cell's last step reports. */
function devMetrics(cell: Cell, summary: unknown): Record<string, number> {
  const last = cell.steps.at(-1)!;
  if (last.kind === 'finetune') return (summary as { best: Record<string, number> }).best;
  if (last.kind === 'multitask') return multitaskCellResult(summary).dev;
  const s = summary as PruneSummary;
  const sparsity = cell.row['sparsity'];
  const own = s.by_sparsity && sparsity !== undefined ? s.by_sparsity.find((x) => x.sparsity.target === sparsity) : s;
  if (!own) throw new Error(`${last.out}: no result for sparsity ${sparsity}`);
  return own.metrics.dev;
}

/** A finished cell's result: the final model's metrics, size and structure. */
async function describeCell(cell: Cell, summary: unknown, o: RunCellsOptions): Promise<CellResult> {
  const config = readConfig(cell.model);
  const params = parameterCount(config).total;
  const result: CellResult = {
    id: cell.id, column: cell.column, row: cell.row, seed: cell.seed, status: 'done', dev: devMetrics(cell, summary), model: cell.model, params,
    sparsity: 1 - params / parameterCount(await o.dense()).total,
    structure: { hidden: config.hiddenSize, heads: config.layers.map((l) => l.numHeads), intermediate: config.layers.map((l) => l.intermediateSize) },
  };
  // A multitask model counts its own size (element-wise zeros included).
  if (cell.steps.at(-1)!.kind === 'multitask') Object.assign(result, multitaskCellResult(summary).size);
  if (o.reportSplit === 'test') result.test = await evalJob({ model: cell.model, task: o.target, split: 'test', ...o.evalOptions });
  return result;
}

/** What a cell's record file holds: its result, for which steps, and who produced it how fast. */
export interface CellRecord {
  /** cellSpec() of the steps the result was computed from. */
  spec: string;
  result: CellResult;
  /** Seconds the cell took in the process that finished it. */
  seconds?: number;
  /** The SLURM job (ARRAYJOB_TASK) that recorded it, or null. */
  job?: string | null;
}

/** The cell's record, whatever its steps (null when there is none). */
export function readRecord(out: string, cell: Cell): CellRecord | null {
  const file = resultFile(out, cell);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as CellRecord) : null;
}

/** The record of the cell as it is now (same steps), or null: a record of other steps is out of date. */
export function currentRecord(out: string, cell: Cell): CellRecord | null {
  const r = readRecord(out, cell);
  return r && r.spec === cellSpec(cell) ? r : null;
}

function writeRecord(out: string, cell: Cell & { variant?: Record<string, unknown> }, record: Omit<CellRecord, 'spec'>): void {
  const file = resultFile(out, cell);
  if (cell.variant) record.result.variant = cell.variant;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, `${JSON.stringify({ spec: cellSpec(cell), ...record }, null, 1)}\n`);
}

/** Records a cell as failed from outside it (a SLURM task that ended without recording anything). */
export function recordFailure(out: string, cell: Cell, error: string, job: string | null = null, log?: string): CellResult {
  const result: CellResult = { id: cell.id, column: cell.column, row: cell.row, seed: cell.seed, status: 'failed', error, ...(log ? { log } : {}) };
  writeRecord(out, cell, { result, job });
  return result;
}

/** Where a cell stands: recorded (done or failed, for its current steps), running under a live lock, or pending. */
export type CellState =
  | { state: 'done' | 'failed'; record: CellRecord }
  | { state: 'running'; owner: LockOwner }
  | { state: 'pending' };

/** The state of a cell; a lock left by a dead owner counts as pending. */
export async function cellState(out: string, cell: Cell, jobAlive: JobAlive, me: LockOwner = currentOwner()): Promise<CellState> {
  const record = currentRecord(out, cell);
  if (record?.result.status === 'done') return { state: 'done', record };
  const owner = await lockHolder(cellPath(out, cell), me, jobAlive);
  if (owner) return { state: 'running', owner };
  return record ? { state: 'failed', record } : { state: 'pending' };
}

/** How runCell takes locks. */
export interface CellLocking {
  /** This process as a lock owner. */
  owner: LockOwner;
  jobAlive: JobAlive;
  /** A cell locked by a live owner: wait for it (then use its result), or return at once. */
  whenLocked: 'wait' | 'skip';
  /** Seconds between looks at a held lock. */
  pollSeconds?: number;
}

export type CellOutcome =
  | { status: 'recorded'; result: CellResult; seconds: number; ran: boolean }
  | { status: 'locked'; owner: LockOwner };

/**
 * Runs one cell unless its result is recorded: under the cell's lock (results/ID.lock), each step
 * under its directory's lock (a step several cells share runs once: the others wait for it), then
 * records the result, or the failure with its error.
 * @throws ResumeRefusedError naming the cell when a job's options changed since it ran; RunStopped
 *   when a job stopped early (a signal; rerun to continue)
 */
export async function runCell(out: string, cell: Cell & { variant?: Record<string, unknown> }, o: RunCellsOptions, lock: CellLocking): Promise<CellOutcome> {
  const pollMs = (lock.pollSeconds ?? 5) * 1000;
  const done = () => {
    const r = currentRecord(out, cell);
    return r?.result.status === 'done' ? r : null;
  };
  const before = done();
  if (before) return { status: 'recorded', result: before.result, seconds: 0, ran: false };
  const info = o.hooks.info ?? ((m: string) => void process.stderr.write(`${m}\n`));
  let release: () => void;
  if (lock.whenLocked === 'skip') {
    const got = await tryLock(cellPath(out, cell), lock.owner, lock.jobAlive);
    if (!got.held) return { status: 'locked', owner: got.owner };
    release = got.release;
  } else {
    release = await waitLock(cellPath(out, cell), lock.owner, lock.jobAlive, { pollMs, onWait: (w) => info(`cell ${cell.id} is running in ${describeOwner(w)}: waiting for it`) });
  }
  try {
    const now = done();
    if (now) return { status: 'recorded', result: now.result, seconds: 0, ran: false };
    const started = performance.now();
    let result: CellResult;
    try {
      result = await runCellSteps(cell, o, (step) => waitLock(step.out, lock.owner, lock.jobAlive, { pollMs, onWait: (w) => info(`${step.out} is running in ${describeOwner(w)}: waiting for it`) }));
    } catch (err) {
      if (err instanceof ResumeRefusedError) throw new ResumeRefusedError(`cell ${cell.id}: ${err.message}`);
      if (err instanceof RunStopped) throw err;
      result = { id: cell.id, column: cell.column, row: cell.row, seed: cell.seed, status: 'failed', error: (err as Error).message, ...(o.log ? { log: o.log } : {}) };
    }
    const seconds = (performance.now() - started) / 1000;
    writeRecord(out, cell, { result, seconds, job: lock.owner.job });
    return { status: 'recorded', result, seconds, ran: true };
  } finally {
    release();
  }
}

/** Runs one cell's steps, each under the lock `lockStep` takes, and describes its final model. */
async function runCellSteps(cell: Cell, o: RunCellsOptions, lockStep: (step: Step) => Promise<() => void>): Promise<CellResult> {
  let summary: unknown;
  for (const step of cell.steps) {
    if (o.shouldStop?.()) throw new RunStopped('signal', `${step.kind} ${step.out}`, 0);
    const release = await lockStep(step);
    try {
      summary = await runStep(step, o.hooks);
    } finally {
      release();
    }
  }
  return describeCell(cell, summary, o);
}

/**
 * Runs every cell not yet recorded, in order, here (the local executor); a cell another process
 * runs is waited for.
 * @throws ResumeRefusedError naming the cell when a job's options changed since it ran; RunStopped
 *   when a signal stopped a job (rerun to continue)
 */
export async function runCells(out: string, cells: readonly (Cell & { variant?: Record<string, unknown> })[], o: RunCellsOptions, lock: Omit<CellLocking, 'whenLocked'>): Promise<CellResult[]> {
  const results: CellResult[] = [];
  for (const [i, cell] of cells.entries()) {
    const outcome = await runCell(out, cell, o, { ...lock, whenLocked: 'wait' });
    if (outcome.status !== 'recorded') throw new Error(`cell ${cell.id}: still locked by ${describeOwner(outcome.owner)}`);
    results.push(outcome.result);
    if (outcome.ran) o.onCell?.(outcome.result, i, outcome.seconds);
  }
  return results;
}

/**
 * The recorded results of every cell, in order (what results.json is written from).
 * @throws Error naming the first cell without a record of its current steps
 */
export function recordedResults(out: string, cells: readonly Cell[]): CellResult[] {
  return cells.map((cell) => {
    const r = currentRecord(out, cell);
    if (!r) throw new Error(`cell ${cell.id} has no result in ${resultFile(out, cell)}`);
    return r.result;
  });
}
