/** `webprune convert`: re-save a checkpoint with another dtype or shard size (no GPU needed). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { loadCheckpoint, saveCheckpoint } from '../../models/io/checkpoint.ts';
import { parseFloatArg } from '../common.ts';

const DTYPES = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;

/**
 * Re-saves the checkpoint in `model` to `out` with `dtype` ('f32' | 'f16' | 'bf16'), in shards of
 * at most maxShardMb MiB when given, with the tokenizer files when the source has them.
 * @returns the files written
 * @throws Error for an unknown dtype, out equal to model, or a checkpoint that does not load
 */
export function convertCheckpoint(model: string, out: string, options: { dtype: string; maxShardMb?: number }): string[] {
  const dtype = DTYPES[options.dtype as keyof typeof DTYPES];
  if (!dtype) throw new Error(`--dtype must be one of ${Object.keys(DTYPES).join(', ')} (got ${options.dtype})`);
  if (path.resolve(model) === path.resolve(out)) throw new Error('--out must differ from --model');
  const { config, tensors } = loadCheckpoint(model);
  const hasTokenizer = ['tokenizer.json', 'vocab.txt'].some((f) => fs.existsSync(path.join(model, f)));
  return saveCheckpoint(out, config, tensors, {
    dtype,
    maxShardBytes: options.maxShardMb === undefined ? undefined : options.maxShardMb * 2 ** 20,
    tokenizer: hasTokenizer ? loadTokenizer(model) : undefined,
  });
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('re-save a checkpoint directory in another dtype and/or in shards (e.g. f16, shards of at most 15 MiB)')
    .requiredOption('--model <dir>', 'checkpoint directory')
    .requiredOption('--out <dir>', 'output directory')
    .option('--dtype <dtype>', 'f32, f16 or bf16', 'f32')
    .option('--max-shard-mb <mb>', 'largest weight file in MiB (sharded with model.safetensors.index.json above it)', parseFloatArg('--max-shard-mb'))
    .action((a: { model: string; out: string; dtype: string; maxShardMb?: number }) => {
      const written = convertCheckpoint(a.model, a.out, { dtype: a.dtype, maxShardMb: a.maxShardMb });
      console.log(`wrote ${written.join(', ')} to ${a.out}`);
    });
}
