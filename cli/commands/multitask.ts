/** `webprune multitask`: one encoder pruned for several tasks under one parameter budget (jobs/multitask.ts). */
import type { Command } from 'commander';
import { initEngine } from '../../engine/index.ts';
import { MULTITASK_OPTIONS, multitaskJob, resolveMultitaskOptions, validateMultitaskOptions } from '../../jobs/multitask.ts';
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
