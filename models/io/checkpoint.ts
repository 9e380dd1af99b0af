/**
 * Hugging Face checkpoint directories of BERT models: `config.json` plus `model.safetensors`, or
 * shards `model-0000k-of-0000n.safetensors` listed in `model.safetensors.index.json`.
 *
 * Tensor names follow transformers (PyTorch `state_dict` keys). In memory they are always the
 * prefixed names of BertForSequenceClassification / BertForMaskedLM (`bert.embeddings...`); files of
 * a bare BertModel (head 'base') use the same names without the `bert.` prefix. Linear weights are
 * PyTorch's [out, in] layout, row-major.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ATTENTION_LINEARS, type BertConfig, type LinearKind, configToJson, linearShape, readConfig, validateConfig } from '../config.ts';
import { writeFileAtomic } from './atomic.ts';
import { makeDirectory, withFileErrors } from './fs_errors.ts';
import type { SafetensorsWriteDType } from './safetensors.ts';
import { SafetensorsError, checkWritable, readSafetensors, tensorBytes, writeSafetensors } from './safetensors.ts';
import { jsonErrorMessage, quoteInput, readUtf8File, showInput } from './text_file.ts';

/** Which model class the checkpoint holds: BertModel, BertForSequenceClassification, BertForMaskedLM. */
export type HeadKind = 'base' | 'classification' | 'mlm';

/** A host tensor: row-major f32 data with prod(shape) elements. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** A loaded checkpoint: its configuration, tensors by prefixed name (in module order), and head. */
export interface Checkpoint {
  config: BertConfig;
  tensors: Map<string, HostTensor>;
  head: HeadKind;
}

/** An invalid or unsupported checkpoint; the message names the file and the tensor. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** transformers class written to config.json `architectures` for each head. */
export const ARCHITECTURE: Readonly<Record<HeadKind, string>> = {
  base: 'BertModel',
  classification: 'BertForSequenceClassification',
  mlm: 'BertForMaskedLM',
};

/** Path of each Linear inside `bert.encoder.layer.i.` (transformers' module names). */
export const LINEAR_PATHS: Readonly<Record<LinearKind, string>> = {
  query: 'attention.self.query',
  key: 'attention.self.key',
  value: 'attention.self.value',
  attention_output: 'attention.output.dense',
  intermediate: 'intermediate.dense',
  output: 'output.dense',
};

/** Weights of an unsharded checkpoint. */
export const SINGLE_FILE = 'model.safetensors';
/** Index of a sharded checkpoint: {"metadata": {"total_size": bytes}, "weight_map": {tensor: shard file}}. */
export const INDEX_FILE = 'model.safetensors.index.json';
const SHARD_RE = /^model-\d{5}-of-\d{5}\.safetensors$/;

/**
 * The tensors a checkpoint of this configuration and head must hold, by prefixed name, in module
 * order, with their shapes (H = hiddenSize, d = heads·headSize of the layer, m = its FFN width):
 * embeddings (word [V,H], position [P,H], token_type [T,H], LayerNorm [H]); per layer i
 * `bert.encoder.layer.i.`: attention.self.{query,key,value}.weight [d,H] and .bias [d],
 * attention.output.dense.weight [H,d] and .bias [H] (all absent when the layer has 0 heads),
 * attention.output.LayerNorm [H] (always), intermediate.dense.weight [m,H] and .bias [m],
 * output.dense.weight [H,m] and .bias [H] (absent when m = 0), output.LayerNorm [H] (always);
 * a factorised Linear of rank r (config ranks) has .weight_q [out,r] and .weight_p [r,in] instead
 * of .weight (neither when r = 0);
 * pooler.dense [P,H] + [P] with P = config.poolerSize ?? H (not for 'mlm', where it is optional, see
 * {@link optionalTensors}); classification: classifier.weight [numLabels,P], classifier.bias [numLabels];
 * mlm: cls.predictions.transform.dense [H,H] + [H], cls.predictions.transform.LayerNorm [H],
 * cls.predictions.bias [V] (the decoder weight is tied to the word embeddings and never required).
 */
export function expectedTensors(config: BertConfig, head: HeadKind): Map<string, number[]> {
  const H = config.hiddenSize;
  const m = new Map<string, number[]>();
  const ln = (prefix: string) => {
    m.set(`${prefix}.weight`, [H]);
    m.set(`${prefix}.bias`, [H]);
  };
  m.set('bert.embeddings.word_embeddings.weight', [config.vocabSize, H]);
  m.set('bert.embeddings.position_embeddings.weight', [config.maxPositionEmbeddings, H]);
  m.set('bert.embeddings.token_type_embeddings.weight', [config.typeVocabSize, H]);
  ln('bert.embeddings.LayerNorm');
  config.layers.forEach((layer, i) => {
    const p = `bert.encoder.layer.${i}`;
    // A Linear's weight, or its factors Q [out, r] and P [r, in] when it is factorised (none at r = 0); then its bias.
    const linear = (kind: LinearKind) => {
      const name = `${p}.${LINEAR_PATHS[kind]}`;
      const [o, n] = linearShape(H, config.headSize, layer, kind);
      const r = layer.ranks?.[kind];
      if (r === undefined) m.set(`${name}.weight`, [o, n]);
      else if (r > 0) {
        m.set(`${name}.weight_q`, [o, r]);
        m.set(`${name}.weight_p`, [r, n]);
      }
      m.set(`${name}.bias`, [o]);
    };
    if (layer.numHeads > 0) for (const kind of ATTENTION_LINEARS) linear(kind);
    ln(`${p}.attention.output.LayerNorm`);
    if (layer.intermediateSize > 0) {
      linear('intermediate');
      linear('output');
    }
    ln(`${p}.output.LayerNorm`);
  });
  // The pooler keeps its output width P when hidden dims are pruned (config.poolerSize).
  const P = config.poolerSize ?? H;
  if (head !== 'mlm') {
    m.set('bert.pooler.dense.weight', [P, H]);
    m.set('bert.pooler.dense.bias', [P]);
  }
  if (head === 'classification') {
    m.set('classifier.weight', [config.numLabels, P]);
    m.set('classifier.bias', [config.numLabels]);
  }
  if (head === 'mlm') {
    m.set('cls.predictions.transform.dense.weight', [H, H]);
    m.set('cls.predictions.transform.dense.bias', [H]);
    ln('cls.predictions.transform.LayerNorm');
    m.set('cls.predictions.bias', [config.vocabSize]);
  }
  return m;
}

/**
 * Tensors accepted and kept when present, never required: the pooler of an 'mlm' checkpoint
 * (transformers' BertForMaskedLM has none; BertForPreTraining checkpoints such as bert-base-uncased
 * do, and fine-tuning can start from it).
 */
export function optionalTensors(config: BertConfig, head: HeadKind): Map<string, number[]> {
  const H = config.hiddenSize;
  if (head !== 'mlm') return new Map();
  return new Map([
    ['bert.pooler.dense.weight', [H, H]],
    ['bert.pooler.dense.bias', [H]],
  ]);
}

/**
 * The in-memory name of a tensor name found in a file: adds the `bert.` prefix to bare BertModel
 * names (`embeddings.`, `encoder.`, `pooler.`) and maps legacy `LayerNorm.gamma`/`.beta` to
 * `.weight`/`.bias`. Other names are returned unchanged.
 */
export function normaliseTensorName(name: string): string {
  let n = name.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
  if (/^(embeddings|encoder|pooler)\./.test(n)) n = `bert.${n}`;
  return n;
}

/** The head of a set of (normalised) tensor names: classifier.* → classification, cls.* → mlm, else base. */
export function detectHead(names: Iterable<string>, where = 'checkpoint'): HeadKind {
  let classification = false;
  let mlm = false;
  for (const n of names) {
    if (n.startsWith('classifier.')) classification = true;
    if (n.startsWith('cls.')) mlm = true;
  }
  if (classification && mlm) throw new CheckpointError(`${where}: holds both classifier.* and cls.* tensors; pass the head explicitly`);
  return classification ? 'classification' : mlm ? 'mlm' : 'base';
}

/** Tensors of transformers checkpoints that are not model parameters here and are dropped on load. */
function ignoredOnLoad(name: string, head: HeadKind): boolean {
  if (name === 'bert.embeddings.position_ids') return true; // an int64 buffer [1, P]
  if (head === 'mlm' && name.startsWith('cls.seq_relationship.')) return true; // BertForPreTraining's NSP head
  return false;
}

const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;

function listNames(names: string[]): string {
  const shown = names.slice(0, 10).map((n) => `"${n}"`).join(', ');
  return names.length > 10 ? `${shown} and ${names.length - 10} more` : shown;
}

/**
 * Checks tensors (by normalised name) against a configuration and head: none missing, none
 * unexpected, every shape as the configuration implies.
 * @param fileOf the file each tensor came from (for error messages); `where` names the whole set.
 * @throws CheckpointError naming the file and tensor(s).
 */
export function checkTensors(
  config: BertConfig,
  head: HeadKind,
  tensors: ReadonlyMap<string, { shape: readonly number[] }>,
  where: string,
  fileOf: (name: string) => string = () => where,
): void {
  const expected = expectedTensors(config, head);
  const optional = optionalTensors(config, head);
  const missing = [...expected.keys()].filter((n) => !tensors.has(n));
  if (missing.length > 0) {
    throw new CheckpointError(`${where}: missing ${missing.length} tensor(s) that a ${head} model of this config.json needs: ${listNames(missing)}`);
  }
  for (const [name, t] of tensors) {
    const want = expected.get(name) ?? optional.get(name);
    if (want === undefined) {
      const hint = /\.layer\.\d+\./.test(name) ? ' (a pruned layer? config.json webprune_layers must list the structure)' : '';
      throw new CheckpointError(`${fileOf(name)}: unexpected tensor "${name}" for a ${head} model of this config.json${hint}`);
    }
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new CheckpointError(`${fileOf(name)}: tensor "${name}" has shape ${fmt(t.shape)} but config.json implies ${fmt(want)}`);
    }
  }
}

/** File names of PyTorch pickle checkpoints (pytorch_model.bin and the like), which are never loaded. */
export const PICKLE_RE = /\.(bin|pt|pth|ckpt|pkl)$/;

/**
 * The error for a model that has only PyTorch pickle weights, with the command that converts it.
 * @param file the pickle file found (a path, or a hub file name)
 * @param source what transformers' from_pretrained takes to load the model (a directory or a hub id)
 * @param target where the converted safetensors directory goes
 */
export function pickleRefusal(file: string, source: string, target: string): CheckpointError {
  return new CheckpointError(
    `${file}: PyTorch pickle checkpoints are never loaded (unpickling executes code). ` +
      `Convert the model to safetensors with: python -c "from transformers import AutoModel; ` +
      `AutoModel.from_pretrained('${source}').save_pretrained('${target}', safe_serialization=True)" ` +
      `(use the model's class, e.g. AutoModelForSequenceClassification, to keep its head)`,
  );
}

/** The weight files of a directory: the single file, or the index and the shards it lists. */
function weightFiles(dir: string): { kind: 'single'; file: string } | { kind: 'sharded'; index: string; shards: Map<string, string[]> } {
  const single = path.join(dir, SINGLE_FILE);
  if (fs.existsSync(single)) return { kind: 'single', file: single };
  const index = path.join(dir, INDEX_FILE);
  if (!fs.existsSync(index)) {
    const pickles = withFileErrors(dir, 'list the model directory', () => fs.readdirSync(dir)).filter((f) => PICKLE_RE.test(f));
    if (pickles.length > 0) throw pickleRefusal(path.join(dir, pickles[0]!), dir, dir);
    throw new CheckpointError(`${dir}: no ${SINGLE_FILE} or ${INDEX_FILE} in the model directory`);
  }
  const text = readUtf8File(index);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(`${index}: not valid JSON (${jsonErrorMessage(err)})`);
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new CheckpointError(`${index}: must be an object with "weight_map": {tensor: file}`);
  }
  const shards = new Map<string, string[]>();
  for (const [name, file] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof file !== 'string' || file === '' || file.includes('/') || file.includes('\\') || file === '.' || file === '..') {
      throw new CheckpointError(`${index}: weight_map[${quoteInput(name)}] must be a file name in the model directory (got ${showInput(file)})`);
    }
    const list = shards.get(file) ?? [];
    list.push(name);
    shards.set(file, list);
  }
  for (const file of shards.keys()) {
    if (!fs.existsSync(path.join(dir, file))) throw new CheckpointError(`${index}: lists ${file}, which does not exist in ${dir}`);
  }
  return { kind: 'sharded', index, shards };
}

/**
 * Loads a checkpoint directory written by transformers (`save_pretrained`) or {@link saveCheckpoint}.
 * F16/BF16 weights are widened to f32. Names are normalised (see {@link normaliseTensorName});
 * `bert.embeddings.position_ids`, `cls.predictions.decoder.weight` (tied to the word embeddings;
 * its shape is still checked) and, for 'mlm', BertForPreTraining's `cls.seq_relationship.*` are
 * dropped; `cls.predictions.decoder.bias` stands in for a missing `cls.predictions.bias`.
 * @param options.head the model class to load as; detected from the tensor names when absent.
 * @param options.dropOtherHeads with an explicit head, silently drop `classifier.*`/`cls.*` tensors
 *   of other heads (e.g. load an MLM checkpoint as 'base' to fine-tune it) instead of failing.
 * @returns tensors in module order ({@link expectedTensors} order, then optional ones).
 * @throws Error when the directory or config.json is missing; ConfigError for a bad config.json;
 *   SafetensorsError for a malformed file or a NaN / ±Infinity weight (naming the file, tensor and
 *   first bad element); FileSystemError when a file cannot be read; CheckpointError for: PyTorch pickles without safetensors
 *   (with the conversion command), no weights, a bad index (listed file missing, a file holding a
 *   tensor not mapped to it or lacking one mapped to it), duplicate names after normalisation,
 *   integer tensors, and missing / unexpected / wrongly shaped tensors (naming file and tensor).
 */
export function loadCheckpoint(dir: string, options: { head?: HeadKind; dropOtherHeads?: boolean } = {}): Checkpoint {
  const config = readConfig(dir);
  const files = weightFiles(dir);
  const raw = new Map<string, { file: string; original: string; shape: number[]; data: Float32Array | BigInt64Array | Int32Array }>();
  const add = (file: string, name: string, t: { shape: number[]; data: Float32Array | BigInt64Array | Int32Array }) => {
    const norm = normaliseTensorName(name);
    const prev = raw.get(norm);
    if (prev !== undefined) {
      throw new CheckpointError(`${file}: tensor "${name}" duplicates "${prev.original}" of ${prev.file} (both are "${norm}")`);
    }
    raw.set(norm, { file, original: name, shape: t.shape, data: t.data });
  };
  let where: string;
  if (files.kind === 'single') {
    where = files.file;
    for (const [name, t] of readSafetensors(files.file).tensors) add(files.file, name, t);
  } else {
    where = files.index;
    for (const [file, names] of files.shards) {
      const full = path.join(dir, file);
      const { tensors } = readSafetensors(full);
      const listed = new Set(names);
      for (const name of names) {
        if (!tensors.has(name)) throw new CheckpointError(`${full}: lacks tensor "${name}", which ${INDEX_FILE} maps to this file`);
      }
      for (const [name, t] of tensors) {
        if (!listed.has(name)) throw new CheckpointError(`${full}: holds tensor "${name}", which ${INDEX_FILE} does not map to this file`);
        add(full, name, t);
      }
    }
  }

  const head = options.head ?? detectHead(raw.keys(), where);
  const expected = expectedTensors(config, head);
  const optional = optionalTensors(config, head);
  // The tied decoder: check and drop; its bias may stand in for cls.predictions.bias.
  if (head === 'mlm') {
    const dec = raw.get('cls.predictions.decoder.weight');
    const want = [config.vocabSize, config.hiddenSize];
    if (dec !== undefined && fmt(dec.shape) !== fmt(want)) {
      throw new CheckpointError(`${dec.file}: tensor "cls.predictions.decoder.weight" has shape ${fmt(dec.shape)} but config.json implies ${fmt(want)}`);
    }
    raw.delete('cls.predictions.decoder.weight');
    const decBias = raw.get('cls.predictions.decoder.bias');
    if (decBias !== undefined) {
      if (!raw.has('cls.predictions.bias')) raw.set('cls.predictions.bias', decBias);
      raw.delete('cls.predictions.decoder.bias');
    }
  }
  const tensors = new Map<string, HostTensor>();
  const fileOf = (name: string) => raw.get(name)?.file ?? where;
  for (const [name, t] of raw) {
    if (ignoredOnLoad(name, head)) continue;
    if (options.dropOtherHeads === true && options.head !== undefined && /^(classifier|cls)\./.test(name) && !expected.has(name) && !optional.has(name)) continue;
    if (!(t.data instanceof Float32Array)) {
      throw new CheckpointError(`${t.file}: tensor "${t.original}" has an integer dtype; model parameters must be floating point`);
    }
    tensors.set(name, { shape: t.shape, data: t.data });
  }
  checkTensors(config, head, tensors, where, fileOf);
  // Module order.
  const ordered = new Map<string, HostTensor>();
  for (const name of [...expected.keys(), ...optional.keys()]) {
    const t = tensors.get(name);
    if (t !== undefined) ordered.set(name, t);
  }
  return { config, tensors: ordered, head };
}

/** Options of {@link saveCheckpoint}. */
export interface SaveCheckpointOptions {
  /** Stored dtype, 'F32' (default, exact) or 'F16'/'BF16' (rounded to nearest even). */
  dtype?: SafetensorsWriteDType;
  /**
   * Largest tensor-data bytes per file (transformers' max_shard_size semantics: headers not
   * counted). When the total exceeds it, shards `model-0000k-of-0000n.safetensors` and
   * `model.safetensors.index.json` are written instead of `model.safetensors`; a shard exceeds the
   * limit only when it holds a single tensor larger than the limit. Default: no sharding.
   */
  maxShardBytes?: number;
  /** Something that writes tokenizer files into a directory, e.g. a BertTokenizer. */
  tokenizer?: { save(dir: string): void };
}

/**
 * Writes a checkpoint directory that transformers can load (`from_pretrained`): config.json (with
 * `architectures` set from the head and `torch_dtype`), the weights as one safetensors file or
 * shards plus index (tensors in module order; `__metadata__` {format: pt}), and optionally the
 * tokenizer files. The head is detected from the tensor names; 'base' checkpoints are written with
 * BertModel's unprefixed names. Every file is written atomically; weight files of an earlier save
 * that the new one does not use (stale shards, index or single file) are removed afterwards.
 * @param tensors by prefixed (or bare BertModel) name; a `cls.predictions.decoder.weight` (tied to
 *   the word embeddings) is left out.
 * @returns the file names written (relative to `dir`).
 * @throws ConfigError for an invalid config; CheckpointError for missing / unexpected / wrongly
 *   shaped tensors, a NaN or ±Infinity value (or, for F16/BF16, one beyond the dtype's range),
 *   naming the tensor and element, or a bad maxShardBytes — before anything is written;
 *   FileSystemError naming the path when the directory cannot be made or a file written.
 */
export function saveCheckpoint(dir: string, config: BertConfig, tensors: ReadonlyMap<string, HostTensor>, options: SaveCheckpointOptions = {}): string[] {
  const dtype = options.dtype ?? 'F32';
  const where = `saveCheckpoint(${dir})`;
  validateConfig(config, where);
  const byName = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    const norm = normaliseTensorName(name);
    if (norm === 'cls.predictions.decoder.weight') continue; // tied to the word embeddings: never written
    if (byName.has(norm)) throw new CheckpointError(`${where}: tensor "${name}" given twice (as "${norm}")`);
    if (!(t.data instanceof Float32Array)) throw new CheckpointError(`${where}: tensor "${name}" must hold a Float32Array`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count) throw new CheckpointError(`${where}: tensor "${name}" has ${t.data.length} values but shape ${fmt(t.shape)} needs ${count}`);
    try {
      checkWritable(where, { name, shape: t.shape, data: t.data }, dtype);
    } catch (err) {
      throw err instanceof SafetensorsError ? new CheckpointError(err.message) : err;
    }
    byName.set(norm, t);
  }
  const head = detectHead(byName.keys(), where);
  checkTensors(config, head, byName, where);
  const maxShard = options.maxShardBytes ?? Infinity;
  if (!(maxShard > 0)) throw new CheckpointError(`${where}: maxShardBytes must be positive (got ${options.maxShardBytes})`);

  const order = [...expectedTensors(config, head).keys(), ...optionalTensors(config, head).keys()].filter((n) => byName.has(n));
  const fileName = (n: string) => (head === 'base' ? n.replace(/^bert\./, '') : n);
  const items = order.map((n) => ({ name: fileName(n), shape: byName.get(n)!.shape, data: byName.get(n)!.data, bytes: tensorBytes(byName.get(n)!.shape, dtype) }));
  const total = items.reduce((s, t) => s + t.bytes, 0);

  makeDirectory(dir);
  const json = { ...configToJson({ ...config, architectures: [ARCHITECTURE[head]] }), torch_dtype: dtype === 'F32' ? 'float32' : dtype === 'F16' ? 'float16' : 'bfloat16' };
  const metadata = { format: 'pt' };
  const written: string[] = [];
  if (total <= maxShard) {
    writeSafetensors(path.join(dir, SINGLE_FILE), items, { dtype, metadata });
    written.push(SINGLE_FILE);
  } else {
    const shards: Array<typeof items> = [];
    let current: typeof items = [];
    let bytes = 0;
    for (const item of items) {
      if (current.length > 0 && bytes + item.bytes > maxShard) {
        shards.push(current);
        current = [];
        bytes = 0;
      }
      current.push(item);
      bytes += item.bytes;
    }
    if (current.length > 0) shards.push(current);
    const n = shards.length;
    const weightMap: Record<string, string> = {};
    shards.forEach((shard, k) => {
      const name = `model-${String(k + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
      writeSafetensors(path.join(dir, name), shard, { dtype, metadata });
      for (const t of shard) weightMap[t.name] = name;
      written.push(name);
    });
    const sortedMap = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]!]));
    writeFileAtomic(path.join(dir, INDEX_FILE), `${JSON.stringify({ metadata: { total_size: total }, weight_map: sortedMap }, null, 2)}\n`);
    written.push(INDEX_FILE);
  }
  writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(json, null, 2)}\n`);
  written.push('config.json');
  // Remove weight files of an earlier save that this one does not use.
  for (const f of withFileErrors(dir, 'list the directory', () => fs.readdirSync(dir))) {
    if ((f === SINGLE_FILE || f === INDEX_FILE || SHARD_RE.test(f)) && !written.includes(f)) withFileErrors(path.join(dir, f), 'remove a stale weight file', () => fs.rmSync(path.join(dir, f)));
  }
  if (options.tokenizer !== undefined) options.tokenizer.save(dir);
  return written;
}
