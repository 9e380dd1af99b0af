/**
 * `webprune experiment NAME` (jobs/experiment.ts), `webprune experiment status DIR`
 * (jobs/experiment_status.ts), the hidden `webprune experiment task SUBMISSION` a SLURM array task runs
 * (jobs/experiment_task.ts), and `webprune restructure` (jobs/restructure.ts).
 */
import type { Command } from 'commander';
import { initEngine } from '../../engine/index.ts';
import { EXPERIMENT_OPTIONS, experimentJob } from '../../jobs/experiment.ts';
import { experimentStatus, formatStatus } from '../../jobs/experiment_status.ts';
import { experimentTaskJob } from '../../jobs/experiment_task.ts';
import { resolveOptions } from '../../jobs/options.ts';
import { RESTRUCTURE_OPTIONS, restructureJob } from '../../jobs/restructure.ts';
import { RunStopped } from '../../training/run/run.ts';
import { addOptions, givenOptions, printJobResult } from '../options.ts';
import { registerMultitaskExperiment } from './multitask.ts';

export function registerExperiment(program: Command): void {
  const { experiment: _name, ...options } = EXPERIMENT_OPTIONS;
  const command = program
    .command('experiment')
    .argument('<name>', 'how | what | when | curve | data-size | grid (Dery et al.: Figures 2-3, Tables 1-2, Figure 4, Figures 1 and 5, Table 4)')
    .description("run a table or figure of Dery et al.'s transfer pruning study as jobs, here or on SLURM (rerun to continue); writes OUT/results.{md,json,csv} and plots");
  // Required options are checked by the job: commander would demand them of `experiment status` too.
  // multitask-vs-ensemble has its own options: they follow its name (positional parsing).
  command.enablePositionalOptions();
  registerMultitaskExperiment(command);
  addOptions(command, options, { checkRequired: false }).action(async (name: string) => {
    const args: Record<string, unknown> = { ...givenOptions(command), experiment: name };
    await initEngine({ seed: 0 });
    try {
      const summary = await experimentJob(args as never);
      if (summary.jobs) console.log(summary.jobs.join('\n'));
      else console.log(JSON.stringify({ experiment: summary.experiment, cells: summary.cells, failed: summary.failed, complete: summary.complete }));
      if (summary.failed) process.exitCode = 1;
    } catch (err) {
      if (!(err instanceof RunStopped)) throw err;
      console.error(`stopped (${err.reason}); rerun the same command to continue`);
      process.exitCode = 130;
    }
  });
  command
    .command('status')
    .argument('<dir>', "the experiment's output directory")
    .description('where each cell of the experiment in DIR stands (done, running, queued on SLURM, failed, pending)')
    .action(async (dir: string) => {
      console.log(formatStatus(await experimentStatus(dir)));
    });
  command
    .command('task', { hidden: true })
    .argument('<submission>', 'DIR/slurm/submission-K.json')
    .description('run the cell of this SLURM array task (the batch script of --executor slurm calls it)')
    .action(async (submission: string) => {
      await initEngine({ seed: 0 });
      process.exitCode = await experimentTaskJob(submission);
    });

  const restructure = program.command('restructure').description("a compacted model from a dense model's weights and another run's structure (masks) or a random one");
  addOptions(restructure, RESTRUCTURE_OPTIONS).action(async (args: Record<string, unknown>) => {
    const o = resolveOptions(RESTRUCTURE_OPTIONS, args);
    await initEngine({ seed: o.seed });
    printJobResult(await restructureJob(o));
  });
}
