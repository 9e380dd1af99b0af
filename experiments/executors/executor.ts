/**
 * Where an experiment's cells run. An executor takes the cells and brings each to a recorded result
 * (experiments/runner.ts: DIR/results/ID.json, done or failed), or returns early saying why (a SLURM
 * submission with --no-wait, cells cancelled with scancel). Executors know nothing of what a cell
 * computes: a cell is its id and its pipeline of jobs (experiments/cells.ts), and the runner is the
 * one place that knows a cell's state.
 *
 *   local  (local.ts)  one cell after another in this process
 *   slurm  (slurm.ts)  one SLURM job array, one cell per array task (slurm_task.ts runs a task)
 */
import type { Cell } from '../cells.ts';

/** A cell as executors see it (a grid cell carries its variant). */
export type ExperimentCell = Cell & { variant?: Record<string, unknown> };

/** How a run of an executor ended. */
export interface ExecutorOutcome {
  /** Every cell has a result for its current steps (done or failed): the results can be written. */
  complete: boolean;
  /** When not complete: what is going on and how to continue. */
  note?: string;
}

export interface Executor {
  /** Runs, or has run, every cell without a result in `out`. */
  run(out: string, cells: readonly ExperimentCell[]): Promise<ExecutorOutcome>;
}
