/** `webprune experiment NAME` (jobs/experiment.ts) and `webprune restructure` (jobs/restructure.ts). */
import type { Command } from 'commander';
import { initEngine } from '../../engine/index.ts';
import { EXPERIMENT_OPTIONS, experimentJob } from '../../jobs/experiment.ts';
import { resolveOptions } from '../../jobs/options.ts';
import { RESTRUCTURE_OPTIONS, restructureJob } from '../../jobs/restructure.ts';
import { RunStopped } from '../../training/run/run.ts';
import { addOptions, givenOptions, printJobResult } from '../options.ts';

export function registerExperiment(program: Command): void {
  const { experiment: _name, ...options } = EXPERIMENT_OPTIONS;
  const command = program
    .command('experiment')
    .argument('<name>', 'how | what | when | curve | data-size | grid (Dery et al.: Figures 2-3, Tables 1-2, Figure 4, Figures 1 and 5, Table 4)')
    .description("run a table or figure of Dery et al.'s transfer pruning study as jobs (rerun to continue); writes OUT/results.{md,json,csv} and plots");
  addOptions(command, options).action(async (name: string) => {
    const args: Record<string, unknown> = { ...givenOptions(command), experiment: name };
    await initEngine({ seed: 0 });
    try {
      const summary = await experimentJob(args as never);
      if (summary.jobs) console.log(summary.jobs.join('\n'));
      else console.log(JSON.stringify({ experiment: summary.experiment, cells: summary.cells, failed: summary.failed }));
      if (summary.failed) process.exitCode = 1;
    } catch (err) {
      if (!(err instanceof RunStopped)) throw err;
      console.error(`stopped (${err.reason}); rerun the same command to continue`);
      process.exitCode = 130;
    }
  });

  const restructure = program.command('restructure').description("a compacted model from a dense model's weights and another run's structure (masks) or a random one");
  addOptions(restructure, RESTRUCTURE_OPTIONS).action(async (args: Record<string, unknown>) => {
    const o = resolveOptions(RESTRUCTURE_OPTIONS, args);
    await initEngine({ seed: o.seed });
    printJobResult(await restructureJob(o));
  });
}
