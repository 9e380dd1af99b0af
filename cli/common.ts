/** Options and set-up shared by the training commands. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { defaultDataDir } from '../data/paths.ts';
import { type Task, getTask, loadSplit } from '../data/tasks.ts';
import { type BertTokenizer, loadTokenizer } from '../data/tokenizer.ts';
import { initEngine } from '../engine/index.ts';
import { isNamedConfig } from '../models/load.ts';
import { type EncodedSplit, encodeSplit } from '../training/data.ts';

export const parseIntArg = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer (got "${v}")`);
  return n;
};

export const parseFloatArg = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number (got "${v}")`);
  return n;
};

/** The data root: --data-dir, else $WEBPRUNE_DATA, else ../shared/data. @throws Error when missing */
export function resolveDataDir(option: string | undefined): string {
  const dir = option ?? defaultDataDir();
  if (!fs.existsSync(dir)) throw new Error(`data directory ${dir} does not exist (give --data-dir or set WEBPRUNE_DATA)`);
  return dir;
}

/**
 * The tokenizer: --vocab (a vocab.txt or a directory), else the model directory's, else the
 * bert-base-uncased vocabulary of the data root.
 */
export function resolveTokenizer(model: string, vocab: string | undefined, dataDir: string): BertTokenizer {
  if (vocab) return loadTokenizer(fs.statSync(vocab).isDirectory() ? vocab : path.dirname(vocab));
  if (!isNamedConfig(model) && (fs.existsSync(path.join(model, 'tokenizer.json')) || fs.existsSync(path.join(model, 'vocab.txt')))) return loadTokenizer(model);
  return loadTokenizer(path.join(dataDir, 'vocab', 'bert-base-uncased'));
}

/** A task's split tokenised; `limit` keeps the first n examples (quick runs). */
export function loadEncoded(task: Task, dataDir: string, split: 'train' | 'dev' | 'test', tokenizer: BertTokenizer, maxSeqLength: number, limit?: number, skipMalformed = false): { encoded: EncodedSplit; skipped: number } {
  const loaded = loadSplit(task, dataDir, split, { skipMalformed });
  const examples = limit !== undefined && limit > 0 ? loaded.examples.slice(0, limit) : loaded.examples;
  return { encoded: encodeSplit(tokenizer, examples, maxSeqLength), skipped: loaded.skipped };
}

/** Opens the GPU with the run's seed. */
export async function openEngine(seed: number): Promise<void> {
  await initEngine({ seed });
}

export { getTask };
