/** `webprune prune`: CoFi structured pruning with an optional transfer task (jobs/prune.ts). */
import type { Command } from 'commander';
import { initEngine } from '../../engine/index.ts';
import { PRUNE_OPTIONS, pruneJob, validatePruneOptions } from '../../jobs/prune.ts';
import { resolveOptions } from '../../jobs/options.ts';
import { addOptions, printJobResult } from '../options.ts';

export function registerPrune(program: Command): void {
  const command = program.command('prune').description('prune an encoder for a task (CoFi), optionally with a transfer task; compacts and fine-tunes it');
  addOptions(command, PRUNE_OPTIONS).action(async (args: Record<string, unknown>) => {
    // Bad input stops here, before the GPU or the data are touched.
    const options = resolveOptions(PRUNE_OPTIONS, args);
    validatePruneOptions(options);
    await initEngine({ seed: options.seed });
    printJobResult(await pruneJob(options), (s) => {
      console.log(JSON.stringify(s, null, 2));
      console.error(`wrote ${options.out}/pruned/, compacted/, summary.json, metrics.jsonl, structure.svg`);
    });
  });
}
