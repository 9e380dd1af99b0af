/**
 * The GPU program's Node side (scripts/gpu-run.sh, scripts/gpu-results.sh), run from the sources:
 *
 *   node --import ./scripts/ts-register.mjs gpu/main.ts pretrain --budget S [pretrain options but --steps]
 *   node --import ./scripts/ts-register.mjs gpu/main.ts summary RESULTS_DIR
 *   node --import ./scripts/ts-register.mjs gpu/main.ts results RESULTS_DIR [--shards a,b]
 *
 * `pretrain` calibrates the step time and pretrains for the budget (gpu/pretrain_budget.ts), then
 * writes loss.svg beside metrics.jsonl; `summary` prints the table the program ends with;
 * `results` prints bench/RESULTS.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { addOptions, printJobResult } from '../cli/options.ts';
import { initEngine } from '../engine/index.ts';
import { resolveOptions } from '../jobs/options.ts';
import { PRETRAIN_OPTIONS } from '../jobs/pretrain.ts';
import { lossCurveSvg } from './loss_curve.ts';
import { pretrainWithinBudget } from './pretrain_budget.ts';
import { readGpuRun, resultsMarkdown, summaryMarkdown } from './report.ts';

const { steps: _steps, ...BUDGETED_PRETRAIN_OPTIONS } = PRETRAIN_OPTIONS;

function positiveNumber(name: string) {
  return (v: string): number => {
    const x = Number(v);
    if (!(x > 0)) throw new InvalidArgumentError(`${name} must be a positive number (got "${v}")`);
    return x;
  };
}

const program = new Command().name('gpu/main.ts').description("the GPU program's Node side").showHelpAfterError();

addOptions(
  program
    .command('pretrain')
    .description('pretraining with --steps chosen to end within --budget seconds (a calibration run measures the step time)')
    .requiredOption('--budget <seconds>', 'seconds for calibration, training, evaluations and saving', positiveNumber('--budget'))
    .option('--calibration-steps <n>', 'steps of the calibration run', positiveNumber('--calibration-steps'), 30)
    .option('--evaluations <n>', 'held-out evaluations over the run (the loss curve\'s points)', positiveNumber('--evaluations'), 10),
  BUDGETED_PRETRAIN_OPTIONS,
).action(async (args: Record<string, unknown>) => {
  const { budget, calibrationSteps, evaluations, ...rest } = args as Record<string, unknown> & { budget: number; calibrationSteps: number; evaluations: number };
  const options = resolveOptions(BUDGETED_PRETRAIN_OPTIONS, rest);
  await initEngine({ seed: options.seed });
  const { result } = await pretrainWithinBudget(options, { budgetSeconds: budget, calibrationSteps: Math.round(calibrationSteps), evaluations: Math.round(evaluations) });
  const metricsFile = path.join(options.out, 'metrics.jsonl');
  const metrics = fs.readFileSync(metricsFile, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  fs.writeFileSync(path.join(options.out, 'loss.svg'), await lossCurveSvg(metrics, `MLM pretraining of ${options.config}`));
  printJobResult(result, (s) => console.log(JSON.stringify(s)));
});

program
  .command('summary')
  .description("the GPU program's summary table from its results folder")
  .argument('<dir>', 'results folder')
  .action((dir: string) => {
    process.stdout.write(summaryMarkdown(readGpuRun(dir)));
  });

program
  .command('results')
  .description('bench/RESULTS.md from a GPU run\'s results folder')
  .argument('<dir>', 'results folder')
  .option('--shards <files>', 'the model\'s safetensors files beside results.tar (comma-separated)', '')
  .action((dir: string, o: { shards: string }) => {
    process.stdout.write(resultsMarkdown(readGpuRun(dir), o.shards.split(',').filter((s) => s !== '')));
  });

try {
  await program.parseAsync(process.argv);
  process.exit(process.exitCode ?? 0);
} catch (err) {
  console.error(`gpu/main.ts: ${(err as Error).message}`);
  if (process.env.WEBPRUNE_DEBUG) console.error((err as Error).stack);
  process.exit(1);
}
