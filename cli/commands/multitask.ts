/** `webprune multitask`: one encoder pruned for several tasks under one parameter budget (jobs/multitask.ts). */
import type { Command } from 'commander';
import { initEngine } from '../../engine/index.ts';
import { MULTITASK_OPTIONS, multitaskJob, resolveMultitaskOptions, validateMultitaskOptions } from '../../jobs/multitask.ts';
import { MULTITASK_EXPERIMENT_OPTIONS, multitaskExperimentJob } from '../../jobs/multitask_experiment.ts';
import { RunStopped } from '../../training/run/run.ts';
import { addOptions, givenOptions, printJobResult } from '../options.ts';

export function registerMultitask(program: Command): void {
  const command = program
    .command('multitask')
    .description('prune one encoder for several tasks at once (Xia & Shin) under a parameter budget: rank, element-l0, movement or structured; a head per task');
  addOptions(command, MULTITASK_OPTIONS).action(async () => {
    // Only the options given: --quick fills the others before the defaults do.
    const options = resolveMultitaskOptions(givenOptions(command));
    validateMultitaskOptions(options);
    await initEngine({ seed: options.seed });
    printJobResult(await multitaskJob(options), (s) => {
      console.log(JSON.stringify(s, null, 2));
      console.error(`wrote ${options.out}/model/ (one head per task: webprune eval --model ${options.out}/model --task T), summary.json, metrics.jsonl`);
    });
  });
}

/**
 * `webprune experiment multitask-vs-ensemble` (jobs/multitask_experiment.ts), a subcommand of
 * `experiment` with its own options (the parent must parse positionally, so that the options after
 * the subcommand's name are the subcommand's).
 */
export function registerMultitaskExperiment(experiment: Command): void {
  const command = experiment
    .command('multitask-vs-ensemble')
    .description('Xia & Shin: one encoder pruned for all tasks at budget B against the even and the best ensemble of single-task models within B, here or on SLURM; writes OUT/results.{md,json,csv} and average-vs-budget.svg (rerun to continue)');
  addOptions(command, MULTITASK_EXPERIMENT_OPTIONS).action(async () => {
    await initEngine({ seed: 0 });
    try {
      const summary = await multitaskExperimentJob(givenOptions(command) as never);
      if (summary.jobs) console.log(summary.jobs.join('\n'));
      else console.log(JSON.stringify({ experiment: summary.experiment, cells: summary.cells, failed: summary.failed, complete: summary.complete }));
      if (summary.failed) process.exitCode = 1;
    } catch (err) {
      if (!(err instanceof RunStopped)) throw err;
      console.error(`stopped (${err.reason}); rerun the same command to continue`);
      process.exitCode = 130;
    }
  });
}
