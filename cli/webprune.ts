/**
 * The `webprune` command line. Each subcommand lives in cli/commands/ and registers itself here.
 */
import { Command } from 'commander';
import { registerBench } from './commands/bench.ts';
import { registerConvert } from './commands/convert.ts';
import { registerExperiment } from './commands/experiment.ts';
import { registerExport } from './commands/export.ts';
import { registerFinetune } from './commands/finetune.ts';
import { registerInfo } from './commands/info.ts';
import { registerMultitask } from './commands/multitask.ts';
import { registerPretrain } from './commands/pretrain.ts';
import { registerPrune } from './commands/prune.ts';

const program = new Command();
program
  .name('webprune')
  .description('Structured pruning of pretrained transformer encoders (CoFi, transfer pruning), trained on the GPU through WebGPU')
  .showHelpAfterError()
  // Options after a subcommand's name are the subcommand's (experiment multitask-vs-ensemble has its own).
  .enablePositionalOptions();

registerInfo(program);
registerPrune(program);
registerMultitask(program);
registerFinetune(program);
registerPretrain(program);
registerExperiment(program);
registerBench(program);
registerConvert(program);
registerExport(program);

try {
  await program.parseAsync(process.argv);
  // Dawn keeps native handles alive; leave once the command is done.
  process.exit(process.exitCode ?? 0);
} catch (err) {
  console.error(`webprune: ${(err as Error).message}`);
  if (process.env.WEBPRUNE_DEBUG) console.error((err as Error).stack);
  process.exit(1);
}
