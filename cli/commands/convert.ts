/** `webprune convert`: re-save a checkpoint in another dtype or in shards (jobs/convert.ts). */
import type { Command } from 'commander';
import { CONVERT_OPTIONS, convertJob } from '../../jobs/convert.ts';
import { resolveOptions } from '../../jobs/options.ts';
import { addOptions } from '../options.ts';

export function registerConvert(program: Command): void {
  const command = program.command('convert').description('re-save a checkpoint directory in another dtype and/or in shards (e.g. f16, shards of at most 15 MiB)');
  addOptions(command, CONVERT_OPTIONS).action((args: Record<string, unknown>) => {
    const options = resolveOptions(CONVERT_OPTIONS, args);
    console.log(`wrote ${convertJob(options).join(', ')} to ${options.out}`);
  });
}
