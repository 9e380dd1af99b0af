/** `webprune pretrain`: masked-language-model pretraining of one of the project's encoders (jobs/pretrain.ts). */
import type { Command } from 'commander';
import { initEngine } from '../../engine/index.ts';
import { resolveOptions } from '../../jobs/options.ts';
import { PRETRAIN_OPTIONS, pretrainJob } from '../../jobs/pretrain.ts';
import { addOptions, printJobResult } from '../options.ts';

export function registerPretrain(program: Command): void {
  const command = program.command('pretrain').description('masked-language-model pretraining from random weights; the model (HF format), metrics.jsonl and a resumable checkpoint go to --out');
  addOptions(command, PRETRAIN_OPTIONS).action(async (args: Record<string, unknown>) => {
    const options = resolveOptions(PRETRAIN_OPTIONS, args);
    await initEngine({ seed: options.seed });
    printJobResult(await pretrainJob(options), (s) => console.log(JSON.stringify(s)));
  });
}
