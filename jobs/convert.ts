/** The convert job: re-save a checkpoint with another dtype or shard size (no GPU needed). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTokenizer } from '../data/tokenizer.ts';
import { loadCheckpoint, saveCheckpoint } from '../models/io/checkpoint.ts';
import { type OptionInput, OptionError, defineOptions, opt, positive, resolveOptions } from './options.ts';

const DTYPES = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;

export const CONVERT_OPTIONS = defineOptions({
  model: opt.string.required('--model <dir>', 'checkpoint directory'),
  out: opt.string.required('--out <dir>', 'output directory'),
  dtype: opt.choice('--dtype <dtype>', 'weight dtype', ['f32', 'f16', 'bf16'] as const, 'f32'),
  maxShardMb: opt.number.optional('--max-shard-mb <mb>', 'largest weight file in MiB (sharded with model.safetensors.index.json above it)', { valid: positive }),
});

/**
 * Re-saves the checkpoint in --model to --out with --dtype, in shards of at most --max-shard-mb MiB
 * when given, with the tokenizer files when the source has them.
 * @returns the files written
 * @throws OptionError for --out equal to --model; Error naming the file of a checkpoint that does not load
 */
export function convertJob(input: OptionInput<typeof CONVERT_OPTIONS>): string[] {
  const o = resolveOptions(CONVERT_OPTIONS, input);
  if (path.resolve(o.model) === path.resolve(o.out)) throw new OptionError('--out must differ from --model');
  const { config, tensors } = loadCheckpoint(o.model);
  const hasTokenizer = ['tokenizer.json', 'vocab.txt'].some((f) => fs.existsSync(path.join(o.model, f)));
  return saveCheckpoint(o.out, config, tensors, {
    dtype: DTYPES[o.dtype],
    maxShardBytes: o.maxShardMb === undefined ? undefined : o.maxShardMb * 2 ** 20,
    tokenizer: hasTokenizer ? loadTokenizer(o.model) : undefined,
  });
}
