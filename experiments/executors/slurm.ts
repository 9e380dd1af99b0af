/**
 * The SLURM executor: an experiment's pending cells as one job array (`sbatch --array=0-N%M`), one
 * cell per array task, each task running `webprune experiment task DIR/slurm/submission-K.json`
 * (slurm_task.ts), which plans the experiment again from the same options, checks that its cell is
 * the one submitted, and runs it exactly as the local executor would, in the same directories.
 *
 *   DIR/slurm/submission-K.json   array K: the experiment's options, its cells (array index → cell id
 *                                 and steps hash), the webprune version, sbatch's arguments, the job id
 *   DIR/slurm/submission-K.sh     its batch script
 *   DIR/slurm/logs/JOB_TASK.out   each task's output (appended across requeues)
 *
 * The driver waits (squeue every --poll-every seconds, a progress line when counts change) or returns
 * at once with --no-wait; rerunning the command adopts tasks still queued or running instead of
 * submitting their cells again. A task that ends without a result (its failure recorded, or killed:
 * TIMEOUT, NODE_FAIL, OUT_OF_MEMORY) is resubmitted up to --retries times, then reported failed with
 * its log. A cancelled task (scancel) is not resubmitted: the driver reports it, and a rerun resumes
 * it from its checkpoint. Assumes DIR is on storage every node sees and the same webprune on every node.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../models/io/atomic.ts';
import { defineOptions, opt, positive } from '../../jobs/options.ts';
import { describeOwner, openExclusive } from '../lock.ts';
import { cellSpec, cellState, currentRecord, recordFailure } from '../runner.ts';
import type { ExecutorOutcome, Executor, ExperimentCell } from './executor.ts';
import { FINAL_STATES, SlurmError, type TaskState, jobAlive, sbatch, squeue } from './slurm_cli.ts';

/** squeue failures in a row the driver waits through (a controller restart) before it gives up. */
const MAX_SQUEUE_FAILURES = 30;

export const SLURM_OPTIONS = defineOptions({
  executor: opt.choice('--executor <where>', 'where cells run: one after another here, or as a SLURM job array (one cell per task)', ['local', 'slurm'] as const, 'local'),
  wait: opt.negatedFlag('--no-wait', 'slurm: submit and return (rerun the same command to wait and collect results; `experiment status DIR` shows progress)'),
  partition: opt.string.optional('--partition <name>', 'slurm: partition (sbatch --partition)'),
  account: opt.string.optional('--account <name>', 'slurm: account charged (sbatch --account)'),
  time: opt.string.optional('--time <limit>', 'slurm: time limit per cell, e.g. 4:00:00 (sbatch --time); a cell that reaches it checkpoints and is requeued'),
  gres: opt.string.optional('--gres <list>', 'slurm: generic resources per cell, e.g. gpu:1 (sbatch --gres)'),
  mem: opt.string.optional('--mem <size>', 'slurm: memory per cell, e.g. 32G (sbatch --mem)'),
  sbatchArg: opt.list.optional('--sbatch-arg <args...>', 'slurm: more sbatch options, each as --sbatch-arg=--qos=high (given after the others, so they win)'),
  maxRunning: opt.count.optional('--max-running <n>', 'slurm: at most n cells at once (sbatch --array=...%n)'),
  retries: opt.natural('--retries <n>', 'slurm: resubmit a cell that failed up to n times before reporting it failed', 1),
  signalBefore: opt.count('--signal-before <seconds>', 'slurm: warn a cell this long before its time limit (sbatch --signal=B:USR2@seconds) to checkpoint and requeue', 120),
  pollEvery: opt.number('--poll-every <seconds>', 'slurm: seconds between squeue polls while waiting', 10, { valid: positive }),
  webpruneCommand: opt.string.optional('--webprune-command <cmd>', "slurm: how compute nodes start webprune (default: the command running now, e.g. '/usr/bin/node /opt/webprune/dist/webprune.mjs')"),
});

/** The SLURM executor's settings (SLURM_OPTIONS resolved); webpruneCommand split into words. */
export interface SlurmSettings {
  wait: boolean;
  partition?: string;
  account?: string;
  time?: string;
  gres?: string;
  mem?: string;
  sbatchArg?: string[];
  maxRunning?: number;
  retries: number;
  signalBefore: number;
  pollEvery: number;
  /** argv that starts webprune on a compute node. */
  command: string[];
}

/** What array K of an experiment runs (DIR/slurm/submission-K.json). */
export interface Submission {
  version: 1;
  /** The webprune version that submitted it (a task running another version refuses). */
  webprune: string;
  /** What plans the cells from `experiment` (jobs/experiment_task.ts PLANNERS): 'experiment' for jobs/experiment.ts. */
  planner: string;
  /** The experiment's options as given: each task plans the cells again from them. */
  experiment: Record<string, unknown>;
  /** Array index i runs cells[i]; spec is the cell's steps hash the task checks. */
  cells: Array<{ id: string; spec: string }>;
  /** The array's job id, once sbatch answered. */
  job: string | null;
  sbatch: string[];
  submitted: string;
}

/** The sbatch options of an array over `count` cells (the batch script's path comes last, apart). */
export function sbatchArgs(s: Omit<SlurmSettings, 'command' | 'wait' | 'retries' | 'pollEvery'>, o: { count: number; jobName: string; logDir: string; chdir: string }): string[] {
  const args = [
    `--job-name=${o.jobName}`,
    `--array=0-${o.count - 1}${s.maxRunning ? `%${s.maxRunning}` : ''}`,
    `--output=${path.join(o.logDir, '%A_%a.out')}`,
    '--open-mode=append',
    '--requeue',
    `--signal=B:USR2@${s.signalBefore}`,
    `--chdir=${o.chdir}`,
  ];
  if (s.partition) args.push(`--partition=${s.partition}`);
  if (s.account) args.push(`--account=${s.account}`);
  if (s.time) args.push(`--time=${s.time}`);
  if (s.gres) args.push(`--gres=${s.gres}`);
  if (s.mem) args.push(`--mem=${s.mem}`);
  return [...args, ...(s.sbatchArg ?? [])];
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/** The batch script of a submission: webprune's task command, with the time-limit warning ignored until webprune handles it. */
export function batchScript(command: readonly string[], submissionFile: string): string {
  return [
    '#!/bin/bash',
    `# One cell of ${submissionFile} per array task (written by webprune experiment --executor slurm).`,
    '# SLURM may send the time-limit warning (USR2) as soon as a requeued task starts: ignore it until',
    '# webprune has its handler (it then asks squeue for the time actually left).',
    "trap '' USR2",
    `exec ${[...command, 'experiment', 'task', submissionFile].map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

/** The log of array task `index` of a submission. */
export const taskLog = (out: string, job: string, index: number) => path.join(out, 'slurm', 'logs', `${job}_${index}.out`);

/** Every submission of an experiment, in order. */
export function readSubmissions(out: string): Array<{ file: string; submission: Submission }> {
  const dir = path.join(out, 'slurm');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir)
    .map((f) => /^submission-(\d+)\.json$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => path.join(dir, m[0]))
    // A submission another driver has reserved but not written yet is empty.
    .filter((file) => fs.statSync(file).size > 0)
    .map((file) => ({ file, submission: JSON.parse(fs.readFileSync(file, 'utf8')) as Submission }));
}

/** One cell's array task: where it is and what squeue last said. */
export interface Attempt {
  cell: ExperimentCell;
  /** ARRAYJOB_TASK. */
  task: string;
  log: string;
  state?: TaskState;
}

/**
 * The array tasks SLURM still has queued or running, by cell id (a cell's latest submission wins).
 * @throws SlurmError (squeue's message)
 */
export async function queuedTasks(out: string, cells: readonly ExperimentCell[]): Promise<Map<string, Attempt>> {
  const byId = new Map(cells.map((c) => [c.id, c]));
  const subs = readSubmissions(out).filter((s) => s.submission.job);
  const tasks = await squeue(subs.map((s) => s.submission.job!));
  const found = new Map<string, Attempt>();
  for (const { submission: s } of subs) {
    s.cells.forEach(({ id, spec }, i) => {
      const cell = byId.get(id);
      const task = `${s.job}_${i}`;
      const t = tasks.get(task);
      if (cell && cellSpec(cell) === spec && t && !FINAL_STATES.has(t.state)) found.set(id, { cell, task, log: taskLog(out, s.job!, i), state: t });
    });
  }
  return found;
}

/** Creates the next free DIR/submission-K.json (exclusively: two drivers never share a K). */
function reserveSubmission(dir: string, from: number): { file: string; k: number } {
  for (let k = from; ; k++) {
    const file = path.resolve(dir, `submission-${k}.json`);
    const fd = openExclusive(file);
    if (fd === null) continue;
    fs.closeSync(fd);
    return { file, k };
  }
}

/** Seconds as "42 s", "12 min" or "3.5 h". */
function duration(s: number): string {
  return s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
}

/** What every submission of an experiment records besides its cells. */
export interface SubmissionTemplate {
  /** The experiment's options as given. */
  experiment: Record<string, unknown>;
  /** Its name (the jobs are named webprune-NAME). */
  name: string;
  webprune: string;
  planner: string;
}

/**
 * The SLURM executor.
 * @param template what each submission records so its tasks can plan the same cells
 */
export function slurmExecutor(settings: SlurmSettings, template: SubmissionTemplate, info: (m: string) => void): Executor {
  return { run: (out, cells) => new SlurmDriver(out, cells, settings, template, info).run() };
}

class SlurmDriver {
  private readonly inFlight = new Map<string, Attempt>();
  private readonly failures = new Map<string, number>();
  private readonly cancelled = new Set<string>();
  /** When a task was first seen ended without a visible result (shared storage may show it late). */
  private readonly endedAt = new Map<string, number>();
  private readonly finishedSeconds: number[] = [];
  private lastLine = '';

  constructor(
    private readonly out: string,
    private readonly cells: readonly ExperimentCell[],
    private readonly s: SlurmSettings,
    private readonly template: SubmissionTemplate,
    private readonly info: (m: string) => void,
  ) {}

  async run(): Promise<ExecutorOutcome> {
    const queued = await queuedTasks(this.out, this.cells);
    const toSubmit: ExperimentCell[] = [];
    let done = 0;
    for (const cell of this.cells) {
      const st = await cellState(this.out, cell, jobAlive);
      if (st.state === 'done') done++;
      else if (queued.has(cell.id)) this.inFlight.set(cell.id, queued.get(cell.id)!);
      else if (st.state === 'running') {
        if (!st.owner.job) throw new Error(`cell ${cell.id} is running outside SLURM (${describeOwner(st.owner)}): let it finish, or stop it, before running the experiment on SLURM`);
        this.inFlight.set(cell.id, { cell, task: st.owner.job, log: '(see the job that holds its lock)' });
      } else toSubmit.push(cell);
    }
    if (this.inFlight.size) this.info(`${this.inFlight.size} cells are already queued or running on SLURM (${this.jobs().join(', ')}): waiting for them`);
    if (done) this.info(`${done} of ${this.cells.length} cells are done already`);
    if (toSubmit.length) await this.submit(toSubmit);
    if (!this.s.wait) {
      const jobs = this.jobs();
      return { complete: this.inFlight.size === 0 && this.allRecorded(), note: this.inFlight.size ? `not waiting for SLURM job${jobs.length > 1 ? 's' : ''} ${jobs.join(', ')}: \`webprune experiment status ${this.out}\` shows progress; rerun the same command to wait and write the results` : undefined };
    }
    return this.waitAll();
  }

  /** The (array) jobs of the tasks in flight. */
  private jobs(): string[] {
    return [...new Set([...this.inFlight.values()].map((a) => a.task.split('_')[0]!))];
  }

  private allRecorded(): boolean {
    return this.cells.every((c) => currentRecord(this.out, c) !== null);
  }

  /** Writes the submission, its script, and submits it as one array. */
  private async submit(cells: readonly ExperimentCell[]): Promise<void> {
    const dir = path.join(this.out, 'slurm');
    fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
    const { file, k } = reserveSubmission(dir, readSubmissions(this.out).length + 1);
    const script = path.resolve(dir, `submission-${k}.sh`);
    const args = sbatchArgs(this.s, { count: cells.length, jobName: `webprune-${this.template.name.replaceAll(' ', '-')}`, logDir: path.resolve(dir, 'logs'), chdir: process.cwd() });
    const submission: Submission = {
      version: 1, webprune: this.template.webprune, planner: this.template.planner, experiment: this.template.experiment,
      cells: cells.map((c) => ({ id: c.id, spec: cellSpec(c) })), job: null, sbatch: args, submitted: new Date().toISOString(),
    };
    // The tasks read the submission: it exists before sbatch runs.
    writeFileAtomic(file, `${JSON.stringify(submission, null, 1)}\n`);
    writeFileAtomic(script, batchScript(this.s.command, file));
    fs.chmodSync(script, 0o755);
    let job: string;
    try {
      job = await sbatch(args, script);
    } catch (err) {
      fs.rmSync(file, { force: true });
      fs.rmSync(script, { force: true });
      throw err;
    }
    submission.job = job;
    writeFileAtomic(file, `${JSON.stringify(submission, null, 1)}\n`);
    cells.forEach((cell, i) => this.inFlight.set(cell.id, { cell, task: `${job}_${i}`, log: taskLog(this.out, job, i) }));
    this.info(`submitted ${cells.length} cells as SLURM job array ${job} (${args.find((a) => a.startsWith('--array='))}); logs in ${path.join(dir, 'logs')}; \`scancel ${job}\` cancels them (finished cells are kept, a rerun resumes the rest)`);
  }

  /** Polls squeue until no task is in flight; resubmits failures; reports progress. */
  private async waitAll(): Promise<ExecutorOutcome> {
    const started = Date.now();
    let squeueFailures = 0;
    while (this.inFlight.size) {
      let tasks: Map<string, TaskState>;
      try {
        tasks = await squeue(this.jobs());
        squeueFailures = 0;
      } catch (err) {
        // The controller may be restarting: keep waiting for a while, then give up with its message.
        if (!(err instanceof SlurmError) || ++squeueFailures > MAX_SQUEUE_FAILURES) throw err;
        this.info(`${err.message} (squeue failed ${squeueFailures} times in a row; trying again)`);
        await new Promise((r) => setTimeout(r, this.s.pollEvery * 1000));
        continue;
      }
      const retry: ExperimentCell[] = [];
      for (const [id, a] of [...this.inFlight]) {
        a.state = tasks.get(a.task);
        if (a.state && !FINAL_STATES.has(a.state.state)) continue;
        const verdict = await this.ended(a);
        if (verdict === 'waiting') continue;
        this.inFlight.delete(id);
        if (verdict === 'failed' && (this.failures.get(id) ?? 0) <= this.s.retries) retry.push(a.cell);
      }
      if (retry.length) await this.submit(retry);
      this.progress(started);
      if (this.inFlight.size) await new Promise((r) => setTimeout(r, this.s.pollEvery * 1000));
    }
    if (this.cancelled.size) {
      return { complete: false, note: `${this.cancelled.size} cells were cancelled (scancel): their checkpoints are kept; rerun the same command to resume them (${[...this.cancelled].join(', ')})` };
    }
    return { complete: this.allRecorded() };
  }

  /** How an ended task (final state, or unknown to squeue) left its cell. */
  private async ended(a: Attempt): Promise<'done' | 'failed' | 'cancelled' | 'waiting'> {
    const { cell } = a;
    const record = currentRecord(this.out, cell);
    if (record?.result.status === 'done') {
      if (record.seconds) this.finishedSeconds.push(record.seconds);
      return 'done';
    }
    const state = a.state?.state;
    if (record && record.job === a.task) return this.failed(a, record.result.error ?? 'failed', record.result.log !== undefined);
    if (state === 'CANCELLED') {
      this.cancelled.add(cell.id);
      this.info(`cell ${cell.id}: task ${a.task} was cancelled; its checkpoint is kept (log: ${a.log})`);
      return 'cancelled';
    }
    const live = await cellState(this.out, cell, jobAlive);
    if (live.state === 'running' && live.owner.job && live.owner.job !== a.task) {
      // Another submission's task holds the cell (two drivers at once): follow that one.
      this.inFlight.set(cell.id, { cell, task: live.owner.job, log: a.log });
      return 'waiting';
    }
    // A task that exited by itself wrote its result first; on shared storage it may show up late.
    if (state === 'COMPLETED' || state === 'FAILED') {
      const first = this.endedAt.get(a.task) ?? Date.now();
      this.endedAt.set(a.task, first);
      if (Date.now() - first < 30_000) return 'waiting';
    }
    return this.failed(a, `task ${a.task} ended ${state ?? '(no longer known to squeue)'} without recording a result`, false);
  }

  /** Counts a failed attempt; the cell's record names the error and the task's log. */
  private failed(a: Attempt, error: string, recordedWithLog: boolean): 'failed' {
    const n = (this.failures.get(a.cell.id) ?? 0) + 1;
    this.failures.set(a.cell.id, n);
    const again = n <= this.s.retries;
    this.info(`cell ${a.cell.id} failed (attempt ${n} of ${this.s.retries + 1}): ${error} (log: ${a.log})${again ? '; resubmitting it' : ''}`);
    if (!recordedWithLog) recordFailure(this.out, a.cell, error, a.task, a.log);
    return 'failed';
  }

  private progress(started: number): void {
    let pending = 0;
    let running = 0;
    for (const a of this.inFlight.values()) {
      if (a.state?.state === 'PENDING' || a.state === undefined) pending++;
      else running++;
    }
    let done = 0;
    let failed = 0;
    for (const c of this.cells) {
      if (this.inFlight.has(c.id)) continue;
      const r = currentRecord(this.out, c);
      if (r?.result.status === 'done') done++;
      else if (r) failed++;
    }
    const left = pending + running;
    const mean = this.finishedSeconds.length ? this.finishedSeconds.reduce((x, y) => x + y, 0) / this.finishedSeconds.length : null;
    // Cells left × mean seconds per cell, over the cells running side by side now.
    const eta = left === 0 ? '' : mean === null ? '; ETA after the first cell' : `; ETA ${duration((mean * left) / Math.max(1, running))}`;
    const line = `${pending} pending, ${running} running, ${done} done, ${failed} failed of ${this.cells.length} cells${this.cancelled.size ? `, ${this.cancelled.size} cancelled` : ''}${eta}`;
    if (line !== this.lastLine) this.info(`[${duration((Date.now() - started) / 1000)}] ${line}`);
    this.lastLine = line;
  }
}
