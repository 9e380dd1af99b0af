/** `webprune finetune` and `webprune eval` (jobs/finetune.ts). */
import type { Command } from 'commander';
import { initEngine } from '../../engine/index.ts';
import { EVAL_OPTIONS, FINETUNE_OPTIONS, evalJob, finetuneJob } from '../../jobs/finetune.ts';
import { resolveOptions } from '../../jobs/options.ts';
import { addOptions, printJobResult } from '../options.ts';

export function registerFinetune(program: Command): void {
  const finetune = program.command('finetune').description('fine-tune a model on a task; keeps the best dev checkpoint (HF format) in --out');
  addOptions(finetune, FINETUNE_OPTIONS).action(async (args: Record<string, unknown>) => {
    const options = resolveOptions(FINETUNE_OPTIONS, args);
    await initEngine({ seed: options.seed });
    printJobResult(await finetuneJob(options), (s) => console.log(JSON.stringify(s)));
  });

  const evaluate = program.command('eval').description("evaluate a fine-tuned model on a task's split");
  addOptions(evaluate, EVAL_OPTIONS)
    .option('--json', 'print one JSON object whose keys are the metric names')
    .action(async (args: Record<string, unknown>) => {
      const { json, ...rest } = args;
      const options = resolveOptions(EVAL_OPTIONS, rest);
      await initEngine({ seed: 0 });
      const metrics = await evalJob(options);
      if (json) console.log(JSON.stringify(metrics));
      else for (const [k, v] of Object.entries(metrics)) console.log(`${k.padEnd(10)} ${v.toFixed(4)}`);
    });
}
