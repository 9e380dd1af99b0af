/**
 * One array task of a SLURM submission (experiments/executors/slurm.ts): runs its cell through the
 * runner, under the cell's lock naming this job, as the local executor would.
 *
 * Stopping:
 *   - SIGTERM (scancel, or preemption, after which SLURM requeues the job itself when it may): the
 *     running job checkpoints at its next step and the task exits with 130; nothing is recorded, so
 *     the cell stays pending and a rerun resumes it.
 *   - The time limit: SLURM sends USR2 --signal-before seconds ahead (sbatch --signal=B:USR2@s). The
 *     task asks squeue for the time actually left (SLURM 22.05 also sends the warning as soon as a
 *     requeued task starts), stops with a checkpoint when the limit is near, and requeues itself
 *     (scontrol requeue: SLURM does not requeue a job that reaches its limit), unless it took no
 *     step in this run, which no requeue would change: that is recorded as a failure.
 */
import { RunStopped, ResumeRefusedError } from '../../training/run/run.ts';
import type { LockOwner } from '../lock.ts';
import { describeOwner } from '../lock.ts';
import { type RunCellsOptions, recordFailure, runCell } from '../runner.ts';
import type { ExperimentCell } from './executor.ts';
import { jobAlive, requeue, timeLeft } from './slurm_cli.ts';

/** The longest delay setTimeout takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Exit codes of a task: the cell is done (or runs in another job), failed, or stopped with a checkpoint. */
export const TASK_EXIT = { done: 0, failed: 1, stopped: 130 } as const;

/**
 * Watches the job's time limit: arms a timer at (time left − margin), re-armed on each USR2.
 * When it fires, `onLimit` runs once.
 */
class TimeLimitWatch {
  private timer: NodeJS.Timeout | null = null;
  private fired = false;
  private readonly onWarning = () => {
    this.info('SLURM: time-limit warning (USR2)');
    void this.arm();
  };

  constructor(
    private readonly job: string,
    private readonly margin: number,
    private readonly onLimit: (secondsLeft: number) => void,
    private readonly info: (m: string) => void,
  ) {
    process.on('SIGUSR2', this.onWarning);
  }

  /** Asks squeue for the time left and sets the timer (fires at once when the limit is within the margin). */
  async arm(): Promise<void> {
    let left: number | null;
    try {
      left = await timeLeft(this.job);
    } catch (err) {
      this.info(`cannot read the job's time left: ${(err as Error).message}`);
      return;
    }
    if (left === null || this.fired) return;
    if (this.timer) clearTimeout(this.timer);
    const wait = Math.max(0, left - this.margin);
    // SLURM reports a job without a limit as 365 days left when it has a --signal: beyond what a
    // timer holds (2^31 ms, 24.8 days), look again then.
    this.timer = wait * 1000 > MAX_TIMER_MS ? setTimeout(() => void this.arm(), MAX_TIMER_MS) : setTimeout(() => this.fire(left - wait), wait * 1000);
    this.timer.unref();
  }

  private fire(left: number): void {
    if (this.fired) return;
    this.fired = true;
    this.onLimit(left);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    process.off('SIGUSR2', this.onWarning);
  }
}

/** What runSlurmTask needs: the cell, how to run it, and where this task's log is. */
export interface SlurmTaskContext {
  out: string;
  cell: ExperimentCell;
  /** How the runner runs a cell (the same as the local executor's). */
  run: RunCellsOptions;
  /** This task as a lock owner (its job is ARRAYJOB_TASK). */
  owner: LockOwner;
  /**
   * This task as squeue and scontrol name it: ARRAYJOB_TASK (SLURM_JOB_ID alone would not do: the
   * array's last task has the array's own id, which squeue expands to every task).
   */
  task: string;
  /** --signal-before: seconds before the limit to stop at. */
  margin: number;
  log: string;
  info: (m: string) => void;
}

/**
 * Runs the task's cell.
 * @returns the exit code (TASK_EXIT)
 */
export async function runSlurmTask(t: SlurmTaskContext): Promise<number> {
  let stopRequested = false;
  let timeUp = false;
  let signals = 0;
  let steps = 0;
  // Between jobs no Run listens for SIGTERM: note it here, so the cell stops before its next job.
  const onTerm = () => {
    signals++;
    stopRequested = true;
    if (signals > 1) {
      process.off('SIGTERM', onTerm);
      process.kill(process.pid, 'SIGTERM');
    }
  };
  process.on('SIGTERM', onTerm);
  const watch = new TimeLimitWatch(t.task, t.margin, (left) => {
    timeUp = true;
    t.info(`the time limit is ${Math.round(left)} s away: stopping with a checkpoint, then requeueing`);
    process.kill(process.pid, 'SIGTERM');
  }, t.info);
  await watch.arm();
  const hooks = { ...t.run.hooks, onStep: (...a: Parameters<NonNullable<RunCellsOptions['hooks']['onStep']>>) => { steps++; t.run.hooks.onStep?.(...a); } };
  try {
    const outcome = await runCell(t.out, t.cell, { ...t.run, hooks, shouldStop: () => stopRequested, log: t.log }, { owner: t.owner, jobAlive, whenLocked: 'skip' });
    if (outcome.status === 'locked') {
      t.info(`cell ${t.cell.id} is running in ${describeOwner(outcome.owner)}: nothing to do here`);
      return TASK_EXIT.done;
    }
    t.info(`cell ${t.cell.id}: ${outcome.result.status}${outcome.result.error ? `: ${outcome.result.error}` : ''}`);
    return outcome.result.status === 'done' ? TASK_EXIT.done : TASK_EXIT.failed;
  } catch (err) {
    if (err instanceof ResumeRefusedError) {
      recordFailure(t.out, t.cell, err.message, t.owner.job, t.log);
      t.info(err.message);
      return TASK_EXIT.failed;
    }
    if (!(err instanceof RunStopped)) throw err;
    if (!timeUp) {
      t.info(`cell ${t.cell.id} stopped (${err.reason}) with a checkpoint; a rerun of the experiment resumes it`);
      return TASK_EXIT.stopped;
    }
    if (steps === 0) {
      const why = `reached its time limit without taking a training step: give cells a longer --time`;
      recordFailure(t.out, t.cell, why, t.owner.job, t.log);
      t.info(`cell ${t.cell.id} ${why}`);
      return TASK_EXIT.failed;
    }
    t.info(`cell ${t.cell.id} stopped at its time limit after ${steps} steps in this run; requeueing ${t.task}`);
    try {
      await requeue(t.task);
    } catch (e) {
      t.info(`the requeue failed (${(e as Error).message}); a rerun of the experiment resumes the cell`);
    }
    return TASK_EXIT.stopped;
  } finally {
    watch.stop();
    process.off('SIGTERM', onTerm);
  }
}
