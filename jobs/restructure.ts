/**
 * The restructure job: a compacted model from a dense checkpoint's weights and a structure taken
 * elsewhere, with no training. The structure is a pruning run's masks (as 0/1: which hidden dims,
 * heads and FFN units are kept) or a random one at a sparsity. This is how Dery et al.'s what-to-
 * transfer study separates the two: "structure only" applies the transfer task's learned masks to
 * the pretrained weights; "weights only" applies a random structure to the weights the transfer
 * task's pruning left (a prune run's masked/, from --save-masked).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Bert } from '../models/bert.ts';
import { parameterCount } from '../models/config.ts';
import { loadModel, saveModel } from '../models/load.ts';
import { compact } from '../pruning/compact.ts';
import { type StructureSummary, binarize, loadMasks, randomStructure, summarize } from '../pruning/structure.ts';
import { hashContent, hashModelDir } from '../training/run/fingerprint.ts';
import { DEFAULT_SEED } from './common_options.ts';
import { tokenizerAt } from './inputs.ts';
import { type JobContext, type JobResult, runJob } from './job.ts';
import { type OptionInput, OptionError, defineOptions, opt, resolveOptions, trajectoryOptions, within } from './options.ts';

export const RESTRUCTURE_OPTIONS = defineOptions({
  weights: opt.string.required('--weights <dir>', "a dense checkpoint whose weights the structure selects (a pretrained encoder, or a pruning run's masked/)", { trajectory: true }),
  masks: opt.string.optional('--masks <file>', "a pruning run's masks.safetensors: its kept units (0/1)", { trajectory: true }),
  randomSparsity: opt.number.optional('--random-sparsity <s>', 'instead of --masks: a random structure (heads and FFN units) at this sparsity', { trajectory: true, valid: within(0, 1, true) }),
  seed: opt.natural('--seed <n>', 'seed of the random structure', DEFAULT_SEED, { trajectory: true }),
  out: opt.string.required('--out <dir>', 'output directory (the compacted model)'),
  resume: opt.flag('--resume', 'finish the run in --out (nothing to do when it is complete)'),
  overwrite: opt.flag('--overwrite', 'replace what is in a non-empty --out'),
});

export type RestructureInput = OptionInput<typeof RESTRUCTURE_OPTIONS>;

/** summary.json of a restructure run. */
export interface RestructureSummary {
  weights: string;
  structure_from: string;
  /** Fraction of the prunable parameters removed. */
  sparsity: number;
  structure: StructureSummary;
}

const MODEL_FILES = ['config.json', 'model.safetensors', 'model.safetensors.index.json', 'vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

/**
 * Writes the compacted model of `--weights` under the structure of `--masks` or a random one.
 * @throws OptionError unless exactly one of --masks and --random-sparsity is given; Error naming the
 *   file when the weights are not a dense model or the masks do not fit it
 */
export async function restructureJob(input: RestructureInput, context: JobContext = {}): Promise<JobResult<RestructureSummary>> {
  const o = resolveOptions(RESTRUCTURE_OPTIONS, input);
  if ((o.masks === undefined) === (o.randomSparsity === undefined)) throw new OptionError('give exactly one of --masks and --random-sparsity');
  const fingerprint = { ...trajectoryOptions(RESTRUCTURE_OPTIONS, o), '--weights (content)': hashModelDir(o.weights), '--masks (content)': o.masks ? hashContent(fs.readFileSync(o.masks)) : null };
  const settings = { ...o, checkpointEvery: 0, logEvery: 1 };
  return runJob('restructure', settings, fingerprint, MODEL_FILES, context, (run) =>
    run.stage('restructure', async () => {
      const { model } = loadModel(o.weights, { head: 'classification', seed: o.seed });
      try {
        const config = model.config;
        if (config.layers.some((l) => l.numHeads !== config.numHeads || l.intermediateSize !== config.intermediateSize)) {
          throw new Error(`--weights ${o.weights} is already pruned; give the dense model the structure applies to`);
        }
        const masks = o.masks ? binarize(loadMasks(o.masks, config)) : randomStructure(config, o.randomSparsity!, o.seed).masks;
        const c = compact(config, 'classification', await model.values(), masks);
        const compacted = new Bert(c.config, 'classification', c.values);
        const hasTokenizer = ['tokenizer.json', 'vocab.txt'].some((f) => fs.existsSync(path.join(o.weights, f)));
        await saveModel(compacted, o.out, { tokenizer: hasTokenizer ? tokenizerAt(o.weights) : undefined });
        compacted.dispose();
        const structure = summarize(config, masks);
        run.info(`${o.masks ? `structure of ${o.masks}` : `random structure at ${o.randomSparsity}`} on ${o.weights}: ${structure.params} of ${parameterCount(config).total} prunable parameters kept`);
        return { weights: o.weights, structure_from: o.masks ?? `random (sparsity ${o.randomSparsity}, seed ${o.seed})`, sparsity: 1 - structure.params / parameterCount(config).total, structure } satisfies RestructureSummary;
      } finally {
        model.dispose();
      }
    }),
  );
}
