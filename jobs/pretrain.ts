/**
 * The pretrain job: masked-language-model pretraining of one of the project's encoders from random
 * weights (training/pretrain.ts), on the run loop. Writes the model (a transformers checkpoint with
 * the tokenizer) to --out at every checkpoint and at the end, metrics.jsonl, summary.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listCorpusFiles } from '../data/corpus.ts';
import { defaultDataDir } from '../data/paths.ts';
import { type BertTokenizer, loadTokenizer } from '../data/tokenizer.ts';
import { Bert } from '../models/bert.ts';
import { type BertConfig, NAMED_SIZES, namedConfig, parseConfig } from '../models/config.ts';
import { saveCheckpoint } from '../models/io/checkpoint.ts';
import { PretrainPhase, defaultWarmup, prepareCorpus } from '../training/pretrain.ts';
import { trainPhase } from '../training/run/loop.ts';
import { RUN_OPTIONS } from './common_options.ts';
import { tokenizerAt } from './inputs.ts';
import { type JobContext, type JobResult, runJob } from './job.ts';
import { type OptionInput, defineOptions, opt, resolveOptions, trajectoryOptions } from './options.ts';

export const PRETRAIN_OPTIONS = defineOptions({
  config: opt.string.required('--config <name|file>', `model size (${Object.keys(NAMED_SIZES).join(', ')}) or a config.json`, { trajectory: true }),
  corpus: opt.list.required('--corpus <paths...>', "corpus files (.txt, .txt.gz) or directories (their *.txt(.gz) but valid*)"),
  steps: opt.count.required('--steps <n>', 'optimizer steps (the learning rate reaches 0 here)', { trajectory: true }),
  vocab: opt.string.optional('--vocab <path>', "vocab.txt or tokenizer directory (default: the data root's bert-base-uncased)"),
  batchSize: opt.count('--batch-size <n>', 'sequences per step', 32, { trajectory: true }),
  maxSeqLength: opt.count('--max-seq-length <n>', 'tokens per packed sequence', 128, { trajectory: true }),
  lr: opt.number('--lr <lr>', 'peak learning rate', 1e-4, { trajectory: true }),
  warmupSteps: opt.natural.optional('--warmup-steps <n>', 'linear warmup steps (default 1% of --steps, at least 1)', { trajectory: true }),
  weightDecay: opt.number('--weight-decay <wd>', 'AdamW weight decay', 0.01, { trajectory: true }),
  evalEvery: opt.natural('--eval-every <n>', 'held-out MLM loss every n steps (0: only at the end)', 500),
  evalSequences: opt.count('--eval-sequences <n>', 'held-out sequences evaluated (fixed, with fixed masks)', 500),
  valid: opt.string.optional('--valid <file>', 'held-out corpus file (default: valid.txt.gz beside the corpus)'),
  cacheDir: opt.string.optional('--cache-dir <dir>', 'token cache (default OUT/token-cache)'),
  maxShards: opt.count.optional('--max-shards <n>', 'train on the first n corpus files only'),
  ...RUN_OPTIONS,
});

export type PretrainInput = OptionInput<typeof PRETRAIN_OPTIONS>;

/** summary.json of a pretraining run. */
export interface PretrainSummary {
  config: string;
  steps: number;
  /** Mean training loss of the last logged window. */
  trainLoss: number;
  /** Last held-out loss (NaN without a held-out file). */
  validLoss: number;
  /** Seconds spent on the run by every process. */
  seconds: number;
  pretokenizeSeconds: number;
}

/** The tokenizer of --vocab, else of the data root's bert-base-uncased vocabulary. @throws Error naming a missing path */
function pretrainTokenizer(vocab: string | undefined): BertTokenizer {
  if (vocab) return tokenizerAt(vocab);
  const p = path.join(defaultDataDir(), 'vocab', 'bert-base-uncased');
  if (!fs.existsSync(p)) throw new Error(`vocabulary ${p} does not exist (give --vocab)`);
  return loadTokenizer(p);
}

/**
 * The model config: a named size or a config.json file, with the tokenizer's vocabulary size and pad id.
 * @throws Error listing the known names for an unknown one, or naming the file that does not parse
 */
export function pretrainConfig(spec: string, tokenizer: Pick<BertTokenizer, 'vocabSize' | 'padId'>): BertConfig {
  let config: BertConfig;
  if (Object.hasOwn(NAMED_SIZES, spec)) config = namedConfig(spec);
  else if (fs.existsSync(spec)) config = parseConfig(JSON.parse(fs.readFileSync(spec, 'utf8')), spec);
  else throw new Error(`--config ${spec}: not a known config (known: ${Object.keys(NAMED_SIZES).join(', ')}) and no such file`);
  return { ...config, vocabSize: tokenizer.vocabSize, padTokenId: tokenizer.padId };
}

/** The training files: the corpus paths' files (valid* left out of directories), the first n with maxShards. */
export function trainFiles(corpus: readonly string[], maxShards?: number): string[] {
  const files = listCorpusFiles(corpus);
  return maxShards !== undefined ? files.slice(0, maxShards) : files;
}

/** `valid`, else valid.txt.gz (or valid.txt) in the first corpus directory (or beside the first file). */
export function validFile(corpus: readonly string[], valid: string | undefined): string | undefined {
  if (valid !== undefined) {
    if (!fs.existsSync(valid)) throw new Error(`--valid ${valid}: no such file`);
    return valid;
  }
  const first = corpus[0]!;
  const dir = fs.existsSync(first) && fs.statSync(first).isDirectory() ? first : path.dirname(first);
  return ['valid.txt.gz', 'valid.txt'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
}

/**
 * Pretrains (or resumes) a model.
 * @throws OptionError for bad options; Error when the vocabulary and config disagree, the sequence
 *   length exceeds the positions, or the run diverges (naming the step)
 */
export async function pretrainJob(input: PretrainInput, context: JobContext = {}): Promise<JobResult<PretrainSummary>> {
  const o = resolveOptions(PRETRAIN_OPTIONS, input);
  const tokenizer = pretrainTokenizer(o.vocab);
  const config = pretrainConfig(o.config, tokenizer);
  if (o.maxSeqLength > config.maxPositionEmbeddings) throw new Error(`--max-seq-length ${o.maxSeqLength} exceeds max_position_embeddings ${config.maxPositionEmbeddings}`);
  const files = trainFiles(o.corpus, o.maxShards);
  const valid = validFile(o.corpus, o.valid);
  const warmupSteps = o.warmupSteps ?? defaultWarmup(o.steps);
  const fingerprint = {
    ...trajectoryOptions(PRETRAIN_OPTIONS, o),
    'model config': config,
    vocabulary: tokenizer.fingerprint(),
    'training corpus': files.map((f) => `${path.basename(f)} (${fs.statSync(f).size} bytes)`),
  };
  const outputs = ['config.json', 'model.safetensors', 'model.safetensors.index.json', 'vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'token-cache'];
  return runJob('pretrain', o, fingerprint, outputs, context, (run) =>
    run.stage('pretrain', async () => {
      const corpus = await prepareCorpus({ train: files, valid, cacheDir: o.cacheDir ?? path.join(o.out, 'token-cache') }, tokenizer, { seqLength: o.maxSeqLength, seed: o.seed, evalSequences: o.evalSequences }, run.info);
      run.info(`corpus: ${corpus.packer.sequencesPerEpoch.toLocaleString('en-US')} sequences of ${o.maxSeqLength} tokens per epoch (${((o.steps * o.batchSize) / corpus.packer.sequencesPerEpoch).toFixed(2)} epochs in ${o.steps} steps); ` +
        (corpus.heldOut ? `held-out: ${corpus.heldOut.sequences} sequences` : 'no held-out file: no evaluation'));
      const model = Bert.random(config, 'mlm', o.seed);
      const phase = new PretrainPhase(model, tokenizer, corpus, { steps: o.steps, batchSize: o.batchSize, seqLength: o.maxSeqLength, lr: o.lr, warmupSteps, weightDecay: o.weightDecay, maxGradNorm: 1, maskProb: 0.15, seed: o.seed, evalEvery: o.evalEvery }, run.metrics);
      const saveModel = async () => {
        saveCheckpoint(o.out, config, await model.values(), { tokenizer });
      };
      phase.onCheckpoint = saveModel;
      try {
        await trainPhase(run, phase);
        await saveModel();
        return { config: o.config, steps: o.steps, trainLoss: phase.trainLoss, validLoss: phase.validLoss, seconds: run.seconds(), pretokenizeSeconds: corpus.pretokenizeSeconds } satisfies PretrainSummary;
      } finally {
        phase.dispose();
        model.dispose();
      }
    }),
  );
}
