/** `webprune finetune` and `webprune eval`. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { loadModel } from '../../models/load.ts';
import { evaluate } from '../../training/evaluate.ts';
import { finetune } from '../../training/finetune.ts';
import { MetricsLog } from '../../training/log.ts';
import { getTask, loadEncoded, openEngine, parseFloatArg, parseIntArg, resolveDataDir, resolveTokenizer } from '../common.ts';
import * as E from '../../engine/index.ts'; // --profile wiring
import { writeProfile } from '../../bench/profile.ts'; // --profile wiring

interface FinetuneArgs {
  profile?: string; // --profile wiring
  model: string;
  task: string;
  dataDir?: string;
  out: string;
  vocab?: string;
  epochs: number;
  steps?: number;
  lr: number;
  batchSize: number;
  maxSeqLength: number;
  warmup: number;
  weightDecay: number;
  seed: number;
  evalEvery: number;
  maxTrain?: number;
  maxEval?: number;
  skipMalformed?: boolean;
}

export function registerFinetune(program: Command): void {
  program
    .command('finetune')
    .description('fine-tune a model on a task; keeps the best dev checkpoint (HF format) in --out')
    .requiredOption('--model <dir|config>', 'checkpoint directory, or a config name (tiny, mini, small, base) for random weights')
    .requiredOption('--task <name>', 'mrpc, stsb, sciie, citation_intent, or [regression:](tsv|jsonl):DIR')
    .requiredOption('--out <dir>', 'output directory')
    .option('--data-dir <dir>', 'data root (default $WEBPRUNE_DATA or ../shared/data)')
    .option('--vocab <path>', 'vocab.txt or tokenizer directory (default: the model\'s, else bert-base-uncased)')
    .option('--epochs <n>', 'training epochs', parseFloatArg('--epochs'), 3)
    .option('--steps <n>', 'optimizer steps (overrides --epochs)', parseIntArg('--steps'))
    .option('--lr <lr>', 'peak learning rate', parseFloatArg('--lr'), 2e-5)
    .option('--batch-size <n>', 'batch size', parseIntArg('--batch-size'), 32)
    .option('--max-seq-length <n>', 'maximum tokens per example', parseIntArg('--max-seq-length'), 128)
    .option('--warmup <ratio>', 'fraction of steps for linear warmup', parseFloatArg('--warmup'), 0.1)
    .option('--weight-decay <wd>', 'AdamW weight decay', parseFloatArg('--weight-decay'), 0.01)
    .option('--seed <n>', 'random seed', parseIntArg('--seed'), 42)
    .option('--eval-every <n>', 'evaluate on dev every n steps (0: at the end)', parseIntArg('--eval-every'), 0)
    .option('--max-train <n>', 'use only the first n training examples', parseIntArg('--max-train'))
    .option('--max-eval <n>', 'use only the first n dev examples', parseIntArg('--max-eval'))
    .option('--skip-malformed', 'skip malformed data rows (and report how many) instead of stopping')
    .option('--profile <file>', 'profile the run: per-kernel GPU time, dispatches, host time and readbacks per step (engine profiler), printed at the end and written to FILE as JSON') // --profile wiring
    .action(async (a: FinetuneArgs) => {
      await openEngine(a.seed);
      const profiler = a.profile ? E.startProfiling(E.getEngine()) : null; // --profile wiring
      const dataDir = resolveDataDir(a.dataDir);
      const task = getTask(a.task);
      const tokenizer = resolveTokenizer(a.model, a.vocab, dataDir);
      const { model, initialised } = loadModel(a.model, { head: 'classification', numLabels: task.numLabels, labelNames: task.labelNames, seed: a.seed });
      if (initialised.length) console.error(`initialised ${initialised[0] === '*' ? 'all parameters (random model)' : initialised.join(', ')}`);
      const train = loadEncoded(task, dataDir, 'train', tokenizer, a.maxSeqLength, a.maxTrain, a.skipMalformed);
      const dev = loadEncoded(task, dataDir, 'dev', tokenizer, a.maxSeqLength, a.maxEval, a.skipMalformed);
      if (train.skipped + dev.skipped) console.error(`skipped ${train.skipped + dev.skipped} malformed rows`);
      fs.mkdirSync(a.out, { recursive: true });
      const started = Date.now();
      const result = await finetune(
        model,
        task,
        train.encoded,
        dev.encoded,
        { epochs: a.epochs, steps: a.steps, lr: a.lr, batchSize: a.batchSize, warmupRatio: a.warmup, weightDecay: a.weightDecay, evalEvery: a.evalEvery, seed: a.seed },
        { bestDir: a.out, tokenizer, log: new MetricsLog(path.join(a.out, 'metrics.jsonl'), false) },
      );
      if (profiler) writeProfile(await profiler.stop(), a.profile!, 'profile of the fine-tuning steps'); // --profile wiring
      const summary = { task: task.name, model: a.model, best: result.best, best_step: result.bestStep, final: result.final, steps: result.steps, seconds: (Date.now() - started) / 1000 };
      fs.writeFileSync(path.join(a.out, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
      console.log(JSON.stringify(summary));
      model.dispose();
    });

  program
    .command('eval')
    .description("evaluate a fine-tuned model on a task's split")
    .requiredOption('--model <dir>', 'checkpoint directory of a fine-tuned model')
    .requiredOption('--task <name>', 'task (as for finetune)')
    .option('--data-dir <dir>', 'data root (default $WEBPRUNE_DATA or ../shared/data)')
    .option('--split <split>', 'dev or train (test sets are unlabeled)', 'dev')
    .option('--vocab <path>', 'vocab.txt or tokenizer directory (default: the model\'s)')
    .option('--max-seq-length <n>', 'maximum tokens per example', parseIntArg('--max-seq-length'), 128)
    .option('--batch-size <n>', 'batch size', parseIntArg('--batch-size'), 64)
    .option('--json', 'print one JSON object whose keys are the metric names')
    .action(async (a: { model: string; task: string; dataDir?: string; split: string; vocab?: string; maxSeqLength: number; batchSize: number; json?: boolean }) => {
      if (a.split !== 'dev' && a.split !== 'train' && a.split !== 'test') throw new Error(`--split must be dev, train or test (got ${a.split})`);
      await openEngine(0);
      const dataDir = resolveDataDir(a.dataDir);
      const task = getTask(a.task);
      const tokenizer = resolveTokenizer(a.model, a.vocab, dataDir);
      const { model } = loadModel(a.model, { head: 'classification', numLabels: task.numLabels, seed: 0 });
      if (model.config.numLabels !== task.numLabels) throw new Error(`${a.model} has ${model.config.numLabels} outputs, task ${task.name} needs ${task.numLabels}`);
      const { encoded } = loadEncoded(task, dataDir, a.split, tokenizer, a.maxSeqLength);
      const { metrics } = await evaluate(model, encoded, task, { batchSize: a.batchSize });
      if (a.json) console.log(JSON.stringify(metrics));
      else for (const [k, v] of Object.entries(metrics)) console.log(`${k.padEnd(10)} ${v.toFixed(4)}`);
      model.dispose();
    });
}
