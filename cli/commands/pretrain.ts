/** `webprune pretrain`: masked-language-model pretraining of one of the project's encoders. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { listCorpusFiles } from '../../data/corpus.ts';
import { defaultDataDir } from '../../data/paths.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { type BertConfig, NAMED_SIZES, namedConfig } from '../../models/config.ts';
import { pretrain } from '../../training/pretrain.ts';
import { openEngine, parseFloatArg, parseIntArg } from '../common.ts';
import * as E from '../../engine/index.ts'; // --profile wiring
import { writeProfile } from '../../bench/profile.ts'; // --profile wiring

interface PretrainArgs {
  profile?: string; // --profile wiring
  config: string;
  corpus: string[];
  vocab?: string;
  steps: number;
  out: string;
  resume?: boolean;
  batchSize: number;
  maxSeqLength: number;
  lr: number;
  warmupSteps?: number;
  weightDecay: number;
  checkpointEvery: number;
  evalEvery: number;
  evalSequences: number;
  valid?: string;
  seed: number;
  cacheDir?: string;
  maxShards?: number;
  stopAt?: number;
  timeLimit?: number;
}

/** The named config with the tokenizer's vocabulary. @throws Error listing the names for an unknown one */
export function pretrainConfig(name: string, vocabSize: number, padTokenId: number): BertConfig {
  if (!Object.hasOwn(NAMED_SIZES, name)) throw new Error(`--config ${name}: not a known config (known: ${Object.keys(NAMED_SIZES).join(', ')})`);
  return { ...namedConfig(name), vocabSize, padTokenId };
}

/** The vocab.txt (or tokenizer directory) to use. @throws Error naming the missing path */
function vocabDir(vocab: string | undefined): string {
  const p = vocab ?? path.join(defaultDataDir(), 'vocab', 'bert-base-uncased', 'vocab.txt');
  if (!fs.existsSync(p)) throw new Error(`vocabulary ${p} does not exist${vocab ? '' : ' (give --vocab)'}`);
  return fs.statSync(p).isDirectory() ? p : path.dirname(p);
}

/** The training files: the corpus paths' files (valid* left out of directories), the first N with --max-shards. */
export function trainFiles(corpus: readonly string[], maxShards?: number): string[] {
  const files = listCorpusFiles(corpus);
  return maxShards !== undefined && maxShards > 0 ? files.slice(0, maxShards) : files;
}

/** --valid, else valid.txt.gz (or valid.txt) in the first corpus directory (or the first file's directory). */
export function validFile(corpus: readonly string[], valid: string | undefined): string | undefined {
  if (valid !== undefined) {
    if (!fs.existsSync(valid)) throw new Error(`--valid ${valid}: no such file`);
    return valid;
  }
  const first = corpus[0]!;
  const dir = fs.existsSync(first) && fs.statSync(first).isDirectory() ? first : path.dirname(first);
  return ['valid.txt.gz', 'valid.txt'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
}

export function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description('masked-language-model pretraining from random weights; the model (HF format), metrics.jsonl and a resumable checkpoint go to --out')
    .requiredOption('--config <name>', `model size: ${Object.keys(NAMED_SIZES).join(', ')}`)
    .requiredOption('--corpus <paths...>', 'corpus files (.txt, .txt.gz) or directories (their *.txt(.gz) but valid*)')
    .requiredOption('--steps <n>', 'optimizer steps (the learning rate reaches 0 here)', parseIntArg('--steps'))
    .requiredOption('--out <dir>', 'output directory')
    .option('--vocab <path>', 'vocab.txt or tokenizer directory (default: the data root\'s bert-base-uncased)')
    .option('--resume', 'continue the run in --out/checkpoint exactly where it stopped')
    .option('--batch-size <n>', 'sequences per step', parseIntArg('--batch-size'), 32)
    .option('--max-seq-length <n>', 'tokens per packed sequence', parseIntArg('--max-seq-length'), 128)
    .option('--lr <lr>', 'peak learning rate', parseFloatArg('--lr'), 1e-4)
    .option('--warmup-steps <n>', 'linear warmup steps (default 1% of --steps, at least 1)', parseIntArg('--warmup-steps'))
    .option('--weight-decay <wd>', 'AdamW weight decay', parseFloatArg('--weight-decay'), 0.01)
    .option('--checkpoint-every <n>', 'write the model and a run checkpoint every n steps (0: only at the end)', parseIntArg('--checkpoint-every'), 1000)
    .option('--eval-every <n>', 'held-out MLM loss every n steps (0: only at the end)', parseIntArg('--eval-every'), 500)
    .option('--eval-sequences <n>', 'held-out sequences evaluated (fixed, with fixed masks)', parseIntArg('--eval-sequences'), 500)
    .option('--valid <file>', 'held-out corpus file (default: valid.txt.gz beside the corpus)')
    .option('--seed <n>', 'random seed (weights, data order, masks, dropout)', parseIntArg('--seed'), 42)
    .option('--cache-dir <dir>', 'token cache (default OUT/token-cache)')
    .option('--max-shards <n>', 'train on the first n corpus files only', parseIntArg('--max-shards'))
    .option('--stop-at <step>', 'stop (with a checkpoint) at this step without ending the schedule', parseIntArg('--stop-at'))
    .option('--time-limit <seconds>', 'start no step after this many seconds, then checkpoint and stop (leave a margin for the checkpoint)', parseFloatArg('--time-limit'))
    .option('--profile <file>', 'profile the run: per-kernel GPU time, dispatches, host time and readbacks per step (engine profiler), printed at the end and written to FILE as JSON') // --profile wiring
    .action(async (a: PretrainArgs) => {
      const tokenizer = loadTokenizer(vocabDir(a.vocab));
      const config = pretrainConfig(a.config, tokenizer.vocabSize, tokenizer.padId);
      const files = trainFiles(a.corpus, a.maxShards);
      const valid = validFile(a.corpus, a.valid);
      await openEngine(a.seed);
      const profiler = a.profile ? E.startProfiling(E.getEngine()) : null; // --profile wiring
      const result = await pretrain(
        { config, trainFiles: files, validFile: valid, tokenizer, out: a.out, cacheDir: a.cacheDir, resume: a.resume },
        {
          steps: a.steps, batchSize: a.batchSize, maxSeqLength: a.maxSeqLength, lr: a.lr, warmupSteps: a.warmupSteps, weightDecay: a.weightDecay, seed: a.seed,
          evalEvery: a.evalEvery, evalSequences: a.evalSequences, checkpointEvery: a.checkpointEvery, stopAt: a.stopAt, timeLimitSeconds: a.timeLimit,
        },
      );
      if (profiler) writeProfile(await profiler.stop(), a.profile!, 'profile of the pretraining steps'); // --profile wiring
      console.log(JSON.stringify({ config: a.config, ...result }));
    });
}
