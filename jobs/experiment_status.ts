/**
 * `webprune experiment status DIR`: where each cell of the experiment in DIR stands, from what is on
 * disk (records and locks, experiments/runner.ts) and what SLURM says of its submissions (squeue).
 * Reads DIR/experiment.json, written by every run of the experiment, to plan the same cells.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { queuedTasks, readSubmissions } from '../experiments/executors/slurm.ts';
import { jobAlive } from '../experiments/executors/slurm_cli.ts';
import { describeOwner } from '../experiments/lock.ts';
import { cellState, resultFile } from '../experiments/runner.ts';
import { experimentFile, planExperiment } from './experiment.ts';
import { MULTITASK_PLANNER, planMultitaskExperiment } from './multitask_experiment.ts';

/** Where an experiment's cells stand. */
export interface ExperimentStatus {
  experiment: string;
  out: string;
  cells: number;
  done: string[];
  failed: Array<{ id: string; error: string; log?: string }>;
  /** Cells whose lock a live process or SLURM job holds. */
  running: Array<{ id: string; owner: string }>;
  /** Cells whose array task SLURM has queued but not started. */
  queued: Array<{ id: string; task: string; reason: string }>;
  /** Cells nothing is running or queued for (a rerun runs them; a cancelled cell resumes from its checkpoint). */
  pending: string[];
  /** results.md is written and newer than every record. */
  results: boolean;
  /** Why SLURM could not be asked, when it could not. */
  slurm?: string;
}

/**
 * The status of the experiment in `dir`.
 * @throws Error when dir holds no experiment (no experiment.json)
 */
export async function experimentStatus(dir: string): Promise<ExperimentStatus> {
  const file = experimentFile(path.resolve(dir));
  if (!fs.existsSync(file)) throw new Error(`${dir}: no experiment here (${file} is missing)`);
  const { experiment, planner } = JSON.parse(fs.readFileSync(file, 'utf8')) as { experiment: Record<string, unknown>; planner?: string };
  const plan = planner === MULTITASK_PLANNER ? planMultitaskExperiment(experiment) : planExperiment(experiment);
  const out = plan.o.out;
  let queued = new Map<string, { task: string; state?: { state: string; reason: string } }>();
  let slurm: string | undefined;
  if (readSubmissions(out).length) {
    try {
      queued = await queuedTasks(out, plan.cells);
    } catch (err) {
      slurm = (err as Error).message;
    }
  }
  const s: ExperimentStatus = { experiment: plan.name, out, cells: plan.cells.length, done: [], failed: [], running: [], queued: [], pending: [], results: false, ...(slurm ? { slurm } : {}) };
  const alive = slurm ? async () => undefined : jobAlive;
  let newest = 0;
  for (const cell of plan.cells) {
    const st = await cellState(out, cell, alive);
    const q = queued.get(cell.id);
    if (st.state === 'done') {
      s.done.push(cell.id);
      newest = Math.max(newest, fs.statSync(resultFile(out, cell)).mtimeMs);
    } else if (st.state === 'running') s.running.push({ id: cell.id, owner: describeOwner(st.owner) });
    else if (q && q.state?.state !== 'RUNNING') s.queued.push({ id: cell.id, task: q.task, reason: `${q.state?.state ?? '?'} (${q.state?.reason ?? '?'})` });
    else if (q) s.running.push({ id: cell.id, owner: `job ${q.task} (starting)` });
    else if (st.state === 'failed') s.failed.push({ id: cell.id, error: st.record.result.error ?? 'failed', ...(st.record.result.log ? { log: st.record.result.log } : {}) });
    else s.pending.push(cell.id);
  }
  const md = path.join(out, 'results.md');
  s.results = s.done.length + s.failed.length === s.cells && fs.existsSync(md) && fs.statSync(md).mtimeMs >= newest;
  return s;
}

/** The status as text: one summary line, then a line per cell that is not done. */
export function formatStatus(s: ExperimentStatus): string {
  const lines = [
    `${s.experiment} in ${s.out}: ${s.cells} cells: ${s.done.length} done, ${s.running.length} running, ${s.queued.length} queued, ${s.failed.length} failed, ${s.pending.length} pending; ${s.results ? 'results.md is up to date' : 'results not written yet (rerun the experiment command to finish and write them)'}`,
    ...s.running.map((c) => `  running  ${c.id}: ${c.owner}`),
    ...s.queued.map((c) => `  queued   ${c.id}: job ${c.task} ${c.reason}`),
    ...s.failed.map((c) => `  failed   ${c.id}: ${c.error}${c.log ? ` (log: ${c.log})` : ''}`),
    ...s.pending.map((id) => `  pending  ${id}`),
  ];
  if (s.slurm) lines.push(`  (SLURM could not be asked: ${s.slurm})`);
  return lines.join('\n');
}
