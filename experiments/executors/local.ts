/** The local executor: every pending cell in this process, one after another (experiments/runner.ts). */
import { currentOwner } from '../lock.ts';
import { type RunCellsOptions, runCells } from '../runner.ts';
import { jobAlive } from './slurm_cli.ts';
import type { Executor } from './executor.ts';

/**
 * Runs the cells here. A cell (or a shared job directory) that another process or SLURM job holds is
 * waited for, then its result used.
 */
export function localExecutor(context: RunCellsOptions): Executor {
  return {
    async run(out, cells) {
      await runCells(out, cells, context, { owner: currentOwner(), jobAlive });
      return { complete: true };
    },
  };
}
