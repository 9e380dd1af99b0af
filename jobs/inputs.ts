/**
 * What jobs read before they train: the data root, the tokenizer, tokenised task splits, and the
 * fingerprint entries of each (content hashes, so --resume notices a changed file, not just a
 * changed option).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveModel } from '../bench/speedup.ts';
import { defaultDataDir } from '../data/paths.ts';
import { ensureTaskData } from '../hub/glue.ts';
import { resolveModelSource } from '../hub/model.ts';
import { HostRandom } from '../engine/index.ts';
import { type Split, type Task, loadSplit } from '../data/tasks.ts';
import { BertTokenizer, loadTokenizer, parseVocab } from '../data/tokenizer.ts';
import type { BertConfig } from '../models/config.ts';
import { isNamedConfig } from '../models/load.ts';
import { type EncodedSplit, encodeSplit } from '../training/data.ts';
import { hashContent, hashModelDir } from '../training/run/fingerprint.ts';

/** The data root: the option, else $WEBPRUNE_DATA, else ../shared/data. @throws Error when missing */
export function resolveDataDir(option: string | undefined): string {
  const dir = option ?? defaultDataDir();
  if (!fs.existsSync(dir)) throw new Error(`data directory ${dir} does not exist (give --data-dir or set WEBPRUNE_DATA)`);
  return dir;
}

/**
 * The tokenizer: `vocab` (a vocab.txt or a directory), else the model directory's, else the
 * bert-base-uncased vocabulary of the data root.
 * @throws Error naming the path that does not exist or does not load
 */
export function resolveTokenizer(model: string, vocab: string | undefined, dataDir: string): BertTokenizer {
  if (vocab) return tokenizerAt(vocab);
  if (!isNamedConfig(model) && (fs.existsSync(path.join(model, 'tokenizer.json')) || fs.existsSync(path.join(model, 'vocab.txt')))) return loadTokenizer(model);
  return loadTokenizer(path.join(dataDir, 'vocab', 'bert-base-uncased'));
}

/**
 * The tokenizer of a directory (tokenizer.json or vocab.txt, see loadTokenizer) or of a vocabulary
 * file of any name (an uncased BERT tokenizer over it).
 * @throws Error naming the path when it does not exist or does not load
 */
export function tokenizerAt(vocab: string): BertTokenizer {
  if (!fs.existsSync(vocab)) throw new Error(`--vocab ${vocab}: no such file or directory`);
  if (fs.statSync(vocab).isDirectory()) return loadTokenizer(vocab);
  if (path.basename(vocab) === 'vocab.txt') return loadTokenizer(path.dirname(vocab));
  return BertTokenizer.fromVocab(parseVocab(fs.readFileSync(vocab, 'utf8'), vocab));
}

/** A tokenised split with where it came from. */
export interface EncodedTaskSplit {
  encoded: EncodedSplit;
  /** Malformed rows skipped (with skipMalformed). */
  skipped: number;
  file: string;
}

/** A task's split tokenised; `limit` keeps the first n examples (quick runs). */
export function loadEncoded(task: Task, dataDir: string, split: Split, tokenizer: BertTokenizer, maxSeqLength: number, limit?: number, skipMalformed = false): EncodedTaskSplit {
  const loaded = loadSplit(task, dataDir, split, { skipMalformed });
  const examples = limit !== undefined && limit > 0 ? loaded.examples.slice(0, limit) : loaded.examples;
  return { encoded: encodeSplit(tokenizer, examples, maxSeqLength), skipped: loaded.skipped, file: loaded.file };
}

/**
 * A seeded random subsample of round(fraction · n) examples (at least 1), in their original order:
 * the same examples for every run with the same seed and split.
 */
export function subsample(split: EncodedSplit, fraction: number, seed: number): EncodedSplit {
  if (fraction >= 1) return split;
  const n = Math.max(1, Math.round(fraction * split.n));
  const picked = new HostRandom(seed).shuffle([...Array(split.n).keys()]).slice(0, n).sort((a, b) => a - b);
  const L = split.maxLength;
  const rows = <T extends Int32Array | Float64Array>(a: T, width: number): T => {
    const out = new (a.constructor as new (n: number) => T)(n * width);
    picked.forEach((i, r) => out.set(a.subarray(i * width, (i + 1) * width), r * width));
    return out;
  };
  return {
    n,
    maxLength: L,
    inputIds: rows(split.inputIds, L),
    tokenTypeIds: rows(split.tokenTypeIds, L),
    attentionMask: rows(split.attentionMask, L),
    lengths: rows(split.lengths, 1),
    labels: rows(split.labels, 1),
  };
}

/** Content hash of a tokenised split (ids, segments, mask, labels): the data a run actually used. */
export function splitHash(split: EncodedSplit): string {
  return hashContent(split.inputIds, split.tokenTypeIds, split.attentionMask, split.labels);
}

/** The fingerprint entry of a model spec: a config name as is, a directory by content. */
export function modelHash(spec: string): string {
  return isNamedConfig(spec) ? `config ${spec}` : hashModelDir(spec);
}

const denseConfigs = new Map<string, Promise<BertConfig>>();

/**
 * The dense configuration of a model spec (a config name, a directory, or a hub id fetched into the
 * cache), resolved once per spec and process: a pruned directory gives the dense model it came from.
 * @throws HubError when the hub and the cache cannot provide a hub id; Error for a bad spec
 */
export function denseConfigOf(spec: string): Promise<BertConfig> {
  let found = denseConfigs.get(spec);
  if (!found) {
    found = resolveModelSource(spec).then((local) => resolveModel(local).dense);
    found.catch(() => denseConfigs.delete(spec));
    denseConfigs.set(spec, found);
  }
  return found;
}

/**
 * The local sources of a job's inputs: hub ids of `model` and `teacher` resolved to snapshots in the
 * Hugging Face cache (downloaded when missing), and a data root that has every task (mrpc/stsb from
 * the hub's nyu-mll/glue when the data root lacks them; hub/). Everything else passes through.
 * @throws HubError when the hub and the cache cannot provide a model or a task
 */
export async function resolveSources<O extends { model: string; teacher?: string; dataDir?: string }>(o: O, tasks: ReadonlyArray<string | undefined>): Promise<O> {
  return {
    ...o,
    model: await resolveModelSource(o.model),
    ...(o.teacher ? { teacher: await resolveModelSource(o.teacher) } : {}),
    dataDir: await ensureTaskData(tasks, o.dataDir),
  };
}
