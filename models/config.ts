/**
 * BERT model configuration: Hugging Face `config.json` (BertModel, BertForSequenceClassification,
 * BertForMaskedLM) plus webprune's per-layer structure for pruned models.
 *
 * JSON extension keys (ignored by transformers, which keeps unknown config keys as attributes):
 * - `"webprune_layers": [{"num_attention_heads": h, "intermediate_size": m}, ...]`, one entry per layer,
 *   written only when some layer differs from the dense defaults (`num_attention_heads`,
 *   `intermediate_size`). h = 0: the layer has no multi-head attention; m = 0: no feed-forward network.
 * - `"attention_head_size"`: written only when it differs from hidden_size / num_attention_heads.
 * - `"webprune_layers"[i].ranks`: `{"query": r, "key": r, "value": r, "attention_output": r,
 *   "intermediate": r, "output": r}` (any subset) for rank-pruned (factorised) Linears: W (out × in)
 *   is stored as Q (out × r) · P (r × in), tensors `….weight_q` and `….weight_p` (models/io/checkpoint.ts).
 *   0 ≤ r ≤ min(in, out); r = 0 leaves only the bias. Linears not listed are dense.
 *
 * For interoperability webprune also writes transformers' own `"pruned_heads"` (layer → pruned head
 * indices) when some layers have fewer heads than `num_attention_heads` but none has 0: transformers
 * v4 then prunes its freshly built model to the same attention shapes, so a heads-only pruned model
 * loads there unchanged (head identities are not kept, so the last heads are listed; transformers v5
 * dropped head pruning and ignores the key). transformers has no per-layer FFN width and cannot run
 * a layer with 0 heads, so other pruned models load there only with custom code. On reading,
 * `pruned_heads` gives the per-layer head counts when `webprune_layers` is absent, and must agree
 * with it when both are present.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './io/atomic.ts';
import { jsonErrorMessage, readUtf8File, showInput } from './io/text_file.ts';

/** The six Linears of an encoder layer, by the names config.json `ranks` uses. */
export const LINEAR_KINDS = ['query', 'key', 'value', 'attention_output', 'intermediate', 'output'] as const;
export type LinearKind = (typeof LINEAR_KINDS)[number];

/** The Linears of the attention sub-layer (absent when it has 0 heads); the others are the FFN's. */
export const ATTENTION_LINEARS: readonly LinearKind[] = ['query', 'key', 'value', 'attention_output'];

/** Structure of one encoder layer. 0 heads = no MHA sublayer; intermediateSize 0 = no FFN sublayer. */
export interface LayerStructure {
  numHeads: number;
  intermediateSize: number;
  /** Ranks of factorised (rank-pruned) Linears, W = Q·P with P [r, in], Q [out, r]; absent: dense. */
  ranks?: Partial<Record<LinearKind, number>>;
}

/**
 * [out, in] of a Linear of a layer with this structure: Q/K/V [h·d, H], attention output [H, h·d],
 * intermediate [m, H], output [H, m].
 */
export function linearShape(hiddenSize: number, headSize: number, layer: Pick<LayerStructure, 'numHeads' | 'intermediateSize'>, kind: LinearKind): [number, number] {
  const d = layer.numHeads * headSize;
  const m = layer.intermediateSize;
  switch (kind) {
    case 'query':
    case 'key':
    case 'value':
      return [d, hiddenSize];
    case 'attention_output':
      return [hiddenSize, d];
    case 'intermediate':
      return [m, hiddenSize];
    case 'output':
      return [hiddenSize, m];
  }
}

/** Whether the layer has this Linear at all (no attention Linears with 0 heads, no FFN ones with width 0). */
export function hasLinear(layer: Pick<LayerStructure, 'numHeads' | 'intermediateSize'>, kind: LinearKind): boolean {
  return ATTENTION_LINEARS.includes(kind) ? layer.numHeads > 0 : layer.intermediateSize > 0;
}

/** Classification (softmax over numLabels ≥ 2 classes, cross-entropy) or regression (numLabels = 1, MSE). */
export type ProblemType = 'single_label_classification' | 'regression';

/** A BERT encoder configuration with its actual per-layer structure. */
export interface BertConfig {
  vocabSize: number;
  /** Width H of the residual stream (embeddings, LayerNorms, attention output, FFN output). */
  hiddenSize: number;
  numLayers: number;
  /** Dense default heads per layer (`num_attention_heads`). */
  numHeads: number;
  /** Width of one attention head; Q/K/V of a layer with h heads are [h × headSize, H]. */
  headSize: number;
  /** Dense default FFN width (`intermediate_size`). */
  intermediateSize: number;
  /** Actual structure of each layer, length numLayers. */
  layers: LayerStructure[];
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenDropout: number;
  attentionDropout: number;
  hiddenAct: 'gelu';
  padTokenId: number;
  initializerRange: number;
  /** Outputs of the classification head; 1 ⇔ regression. */
  numLabels: number;
  problemType: ProblemType;
  /** Class names by index (0..numLabels-1), when known (never transformers' placeholders LABEL_i). */
  id2label?: Record<number, string>;
  architectures?: string[];
  /**
   * Output width of the pooler (and input of the classifier) when it differs from hiddenSize:
   * hidden-dimension pruning shrinks the pooler's input but keeps its output, as CoFi does.
   * JSON key `webprune_pooler_size`.
   */
  poolerSize?: number;
}

/** An invalid configuration; the message starts with the file name and names the key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x);
/** Most encoder layers a config may declare (real BERTs have at most a few dozen). */
export const MAX_LAYERS = 1024;
/** Largest tensor dimension a config may imply. */
export const MAX_DIMENSION = 2 ** 31 - 1;
/** An input value for an error message (JSON, cut to 200 characters). */
const show = (x: unknown): string => showInput(x);

/** Typed reads of a config.json object's keys, absent keys taking a default; failures name the file and key. */
class ConfigReader {
  constructor(
    readonly o: Record<string, unknown>,
    private readonly file: string,
  ) {}

  /** @throws ConfigError `FILE: msg` */
  readonly fail = (msg: string): never => {
    throw new ConfigError(`${this.file}: ${msg}`);
  };

  has(key: string): boolean {
    return this.o[key] !== undefined && this.o[key] !== null;
  }

  posInt(key: string, def?: number): number {
    if (!this.has(key)) return def ?? this.fail(`${key} is required (a positive integer)`);
    const v = this.o[key];
    if (isInt(v) && v > MAX_DIMENSION) this.fail(`${key} = ${v} is beyond ${MAX_DIMENSION} (2^31 - 1)`);
    return isInt(v) && v > 0 ? v : this.fail(`${key} must be a positive integer (got ${show(v)})`);
  }

  nonNegInt(key: string, def: number): number {
    if (!this.has(key)) return def;
    const v = this.o[key];
    return isInt(v) && v >= 0 ? v : this.fail(`${key} must be a non-negative integer (got ${show(v)})`);
  }

  prob(key: string, def: number): number {
    if (!this.has(key)) return def;
    const v = this.o[key];
    return typeof v === 'number' && v >= 0 && v < 1 ? v : this.fail(`${key} must be a number in [0, 1) (got ${show(v)})`);
  }

  posNum(key: string, def: number): number {
    if (!this.has(key)) return def;
    const v = this.o[key];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : this.fail(`${key} must be a positive number (got ${show(v)})`);
  }
}

/**
 * Parses and validates a transformers BERT `config.json` object (plus webprune's extension keys).
 * Absent optional keys take transformers' BertConfig defaults: hidden_act "gelu", dropouts 0.1,
 * max_position_embeddings 512, type_vocab_size 2, layer_norm_eps 1e-12, pad_token_id 0,
 * initializer_range 0.02, num_labels 2 (or len(id2label)).
 * @param file name used in error messages (e.g. the path of config.json).
 * @throws ConfigError `FILE: KEY must be ... (got VALUE)` for: a required key (vocab_size, hidden_size,
 *   num_hidden_layers, num_attention_heads, intermediate_size) missing or not a positive integer;
 *   a value of the wrong type or range; model_type other than "bert" (or "webprune_bert"); hidden_act other than "gelu";
 *   position_embedding_type other than "absolute"; is_decoder true; hidden_size not divisible by
 *   num_attention_heads without an explicit attention_head_size; webprune_layers of the wrong length
 *   or with bad entries; pruned_heads malformed or disagreeing with webprune_layers; num_labels,
 *   id2label, label2id and problem_type disagreeing (num_labels 1 ⇔ regression);
 *   problem_type "multi_label_classification" (unsupported).
 */
export function parseConfig(json: unknown, file: string): BertConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ConfigError(`${file}: must be a JSON object (got ${show(json)})`);
  const r = new ConfigReader(json as Record<string, unknown>, file);
  const dims = parseDimensions(r);
  const layers = parseLayers(r, dims);
  const head = parseTaskHead(r);
  let architectures: string[] | undefined;
  if (r.has('architectures')) {
    const a = r.o['architectures'];
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'string')) r.fail(`architectures must be an array of strings (got ${show(a)})`);
    architectures = [...(a as string[])];
  }
  const padTokenId = r.nonNegInt('pad_token_id', 0);
  if (padTokenId >= dims.vocabSize) r.fail(`pad_token_id ${padTokenId} must be below vocab_size ${dims.vocabSize}`);
  const config: BertConfig = {
    ...dims,
    layers,
    maxPositionEmbeddings: r.posInt('max_position_embeddings', 512),
    typeVocabSize: r.posInt('type_vocab_size', 2),
    layerNormEps: r.posNum('layer_norm_eps', 1e-12),
    hiddenDropout: r.prob('hidden_dropout_prob', 0.1),
    attentionDropout: r.prob('attention_probs_dropout_prob', 0.1),
    hiddenAct: 'gelu',
    padTokenId,
    initializerRange: r.posNum('initializer_range', 0.02),
    numLabels: head.numLabels,
    problemType: head.problemType,
  };
  // transformers' placeholder names LABEL_i carry no information: leave id2label unset then.
  if (head.id2label !== undefined && Object.entries(head.id2label).some(([i, n]) => n !== `LABEL_${i}`)) config.id2label = head.id2label;
  if (architectures !== undefined) config.architectures = architectures;
  if (r.has('webprune_pooler_size')) config.poolerSize = r.posInt('webprune_pooler_size');
  return config;
}

/** The dense dimensions of a config. */
type Dimensions = Pick<BertConfig, 'vocabSize' | 'hiddenSize' | 'numLayers' | 'numHeads' | 'headSize' | 'intermediateSize'>;

/** The model type, the dense dimensions and the unsupported variants of BERT (see parseConfig). */
function parseDimensions(r: ConfigReader): Dimensions {
  const { o, fail } = r;
  // "webprune_bert": a pruned model exported for transformers with remote code (export/transformers.ts).
  if (r.has('model_type') && o['model_type'] !== 'bert' && o['model_type'] !== 'webprune_bert') fail(`model_type must be "bert" (got ${show(o['model_type'])})`);
  const vocabSize = r.posInt('vocab_size');
  const hiddenSize = r.posInt('hidden_size');
  const numLayers = r.posInt('num_hidden_layers');
  // The structure has one entry per layer: a corrupt count (2^31) would exhaust memory.
  if (numLayers > MAX_LAYERS) fail(`num_hidden_layers must be at most ${MAX_LAYERS} (got ${numLayers})`);
  const numHeads = r.posInt('num_attention_heads');
  const intermediateSize = r.posInt('intermediate_size');
  const hiddenAct = r.has('hidden_act') ? o['hidden_act'] : 'gelu';
  if (hiddenAct !== 'gelu') fail(`hidden_act ${show(hiddenAct)} is not supported (only "gelu", the exact erf GELU)`);
  if (r.has('position_embedding_type') && o['position_embedding_type'] !== 'absolute') {
    fail(`position_embedding_type ${show(o['position_embedding_type'])} is not supported (only "absolute")`);
  }
  if (o['is_decoder'] === true) fail('is_decoder true is not supported (BERT encoders only)');
  let headSize: number;
  if (r.has('attention_head_size')) headSize = r.posInt('attention_head_size');
  else if (hiddenSize % numHeads !== 0) {
    return fail(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads} (and no attention_head_size is given)`);
  } else headSize = hiddenSize / numHeads;
  return { vocabSize, hiddenSize, numLayers, numHeads, headSize, intermediateSize };
}

/**
 * The per-layer structure: `webprune_layers` (with ranks), or transformers' `pruned_heads` (which must
 * agree with it when both are given), else the dense defaults; every dimension within 2^31 - 1.
 */
function parseLayers(r: ConfigReader, d: Dimensions): LayerStructure[] {
  const { o, fail } = r;
  let layers: LayerStructure[] = Array.from({ length: d.numLayers }, () => ({ numHeads: d.numHeads, intermediateSize: d.intermediateSize }));
  if (r.has('webprune_layers')) {
    const wl = o['webprune_layers'];
    if (!Array.isArray(wl) || wl.length !== d.numLayers) {
      fail(`webprune_layers must be an array of num_hidden_layers = ${d.numLayers} entries (got ${Array.isArray(wl) ? `${wl.length} entries` : show(wl)})`);
    }
    layers = (wl as unknown[]).map((entry, i) => parseLayerEntry(entry, `webprune_layers[${i}]`, d, fail));
  }
  if (r.has('pruned_heads')) {
    const fromPruned = parsePrunedHeads(r, d);
    if (r.has('webprune_layers')) {
      layers.forEach((l, i) => {
        if (l.numHeads !== fromPruned[i]) fail(`webprune_layers[${i}].num_attention_heads = ${l.numHeads} disagrees with pruned_heads, which leaves ${fromPruned[i]} heads`);
      });
    } else layers = layers.map((l, i) => ({ ...l, numHeads: fromPruned[i]! }));
  }
  // Every dimension must fit the u32 indexing of the kernels (a corrupt 2^53 − 1 would otherwise
  // make shapes that are not even safe integers).
  layers.forEach((l, i) => {
    if (l.numHeads * d.headSize > MAX_DIMENSION) fail(`layer ${i}: heads × attention_head_size = ${l.numHeads * d.headSize} is beyond ${MAX_DIMENSION} (2^31 - 1)`);
    if (l.intermediateSize > MAX_DIMENSION) fail(`layer ${i}: intermediate_size = ${l.intermediateSize} is beyond ${MAX_DIMENSION} (2^31 - 1)`);
  });
  return layers;
}

/** One `webprune_layers` entry {num_attention_heads, intermediate_size, ranks?}. */
function parseLayerEntry(entry: unknown, key: string, d: Dimensions, fail: (msg: string) => never): LayerStructure {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return fail(`${key} must be an object {num_attention_heads, intermediate_size} (got ${show(entry)})`);
  const e = entry as Record<string, unknown>;
  const h = e['num_attention_heads'];
  const m = e['intermediate_size'];
  if (!isInt(h) || h < 0) fail(`${key}.num_attention_heads must be a non-negative integer (got ${show(h)})`);
  if (!isInt(m) || m < 0) fail(`${key}.intermediate_size must be a non-negative integer (got ${show(m)})`);
  const structure: LayerStructure = { numHeads: h as number, intermediateSize: m as number };
  if (e['ranks'] !== undefined && e['ranks'] !== null) structure.ranks = parseRanks(e['ranks'], structure, `${key}.ranks`, d.hiddenSize, d.headSize, fail);
  return structure;
}

/** The head count per layer that transformers' `pruned_heads` {layer: [head, ...]} leaves. */
function parsePrunedHeads(r: ConfigReader, d: Dimensions): number[] {
  const { fail } = r;
  const ph = r.o['pruned_heads'];
  if (typeof ph !== 'object' || Array.isArray(ph)) fail(`pruned_heads must be an object {layer: [head, ...]} (got ${show(ph)})`);
  const heads = Array.from({ length: d.numLayers }, () => d.numHeads);
  for (const [layerKey, pruned] of Object.entries(ph as Record<string, unknown>)) {
    const layer = Number(layerKey);
    if (!isInt(layer) || layer < 0 || layer >= d.numLayers || String(layer) !== layerKey) fail(`pruned_heads key ${show(layerKey)} is not a layer index in [0, ${d.numLayers})`);
    if (!Array.isArray(pruned) || !pruned.every((x) => isInt(x) && x >= 0 && x < d.numHeads)) {
      fail(`pruned_heads["${layerKey}"] must be head indices in [0, ${d.numHeads}) (got ${show(pruned)})`);
    }
    heads[layer] = d.numHeads - new Set(pruned as number[]).size;
  }
  return heads;
}

/** The task head: num_labels, id2label, label2id and problem_type, which must agree. */
function parseTaskHead(r: ConfigReader): { numLabels: number; problemType: ProblemType; id2label: Record<number, string> | undefined } {
  const { o, fail } = r;
  const id2label = parseId2Label(r);
  const numLabelsFromMap = id2label === undefined ? undefined : Object.keys(id2label).length;
  const numLabels = r.has('num_labels') ? r.posInt('num_labels') : (numLabelsFromMap ?? 2);
  if (numLabelsFromMap !== undefined && numLabelsFromMap !== numLabels) fail(`num_labels ${numLabels} disagrees with id2label, which has ${numLabelsFromMap} entries`);
  if (r.has('label2id')) {
    const raw = o['label2id'];
    if (typeof raw !== 'object' || Array.isArray(raw)) fail(`label2id must be an object {name: index} (got ${show(raw)})`);
    for (const [name, idx] of Object.entries(raw as Record<string, unknown>)) {
      if (!isInt(idx) || idx < 0 || idx >= numLabels) fail(`label2id["${name}"] must be an index in [0, ${numLabels}) (got ${show(idx)})`);
      if (id2label !== undefined && id2label[idx as number] !== name) fail(`label2id["${name}"] = ${show(idx)} disagrees with id2label["${idx}"] = ${show(id2label[idx as number])}`);
    }
  }
  let problemType: ProblemType;
  const pt = r.has('problem_type') ? o['problem_type'] : undefined;
  if (pt === undefined) problemType = numLabels === 1 ? 'regression' : 'single_label_classification';
  else if (pt === 'regression' || pt === 'single_label_classification') problemType = pt;
  else return fail(`problem_type ${show(pt)} is not supported ("single_label_classification" or "regression")`);
  if ((problemType === 'regression') !== (numLabels === 1)) fail(`problem_type "${problemType}" needs num_labels ${problemType === 'regression' ? '= 1' : '≥ 2'} (got ${numLabels})`);
  return { numLabels, problemType, id2label };
}

/** `id2label` {"0": name, ...} with keys 0..n-1, or undefined when absent. */
function parseId2Label(r: ConfigReader): Record<number, string> | undefined {
  if (!r.has('id2label')) return undefined;
  const raw = r.o['id2label'];
  if (typeof raw !== 'object' || Array.isArray(raw)) return r.fail(`id2label must be an object {"0": name, ...} (got ${show(raw)})`);
  const entries = Object.entries(raw as Record<string, unknown>);
  const id2label: Record<number, string> = {};
  for (const [k, v] of entries) {
    const idx = Number(k);
    if (!isInt(idx) || idx < 0 || idx >= entries.length || String(idx) !== k) r.fail(`id2label key ${show(k)} must be an index in [0, ${entries.length})`);
    if (typeof v !== 'string') r.fail(`id2label["${k}"] must be a string (got ${show(v)})`);
    id2label[idx] = v as string;
  }
  return id2label;
}

/**
 * The `ranks` object of a webprune_layers entry: known Linear names only, each an integer in
 * [0, min(in, out)] of a Linear the layer has.
 */
function parseRanks(raw: unknown, layer: LayerStructure, key: string, hiddenSize: number, headSize: number, fail: (msg: string) => never): Partial<Record<LinearKind, number>> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail(`${key} must be an object {${LINEAR_KINDS.join(', ')}: rank} (got ${show(raw)})`);
  const out: Partial<Record<LinearKind, number>> = {};
  for (const [name, r] of Object.entries(raw as Record<string, unknown>)) {
    if (!(LINEAR_KINDS as readonly string[]).includes(name)) fail(`${key}: unknown Linear "${name}" (known: ${LINEAR_KINDS.join(', ')})`);
    const kind = name as LinearKind;
    if (!hasLinear(layer, kind)) fail(`${key}.${name}: the layer has no ${name} Linear (${ATTENTION_LINEARS.includes(kind) ? '0 heads' : 'no FFN'})`);
    const [o, i] = linearShape(hiddenSize, headSize, layer, kind);
    if (!isInt(r) || r < 0 || r > Math.min(o, i)) fail(`${key}.${name} must be an integer rank in [0, ${Math.min(o, i)}] (got ${show(r)})`);
    out[kind] = r as number;
  }
  return out;
}

/** Whether some layer has factorised (rank-pruned) Linears. */
export function isFactorised(config: BertConfig): boolean {
  return config.layers.some((l) => l.ranks !== undefined && Object.keys(l.ranks).length > 0);
}

/** Whether some layer differs from the dense defaults (numHeads, intermediateSize) or is factorised. */
export function isPruned(config: BertConfig): boolean {
  return isFactorised(config) || config.layers.some((l) => l.numHeads !== config.numHeads || l.intermediateSize !== config.intermediateSize);
}

/**
 * The transformers `config.json` object of a configuration (keys sorted as transformers writes them),
 * with `id2label`/`label2id` (LABEL_i when no names are set), `problem_type`, and webprune's extension
 * keys only where needed (see the module comment). `parseConfig(configToJson(c))` gives back `c`.
 */
export function configToJson(config: BertConfig): Record<string, unknown> {
  const id2label: Record<string, string> = {};
  const label2id: Record<string, number> = {};
  for (let i = 0; i < config.numLabels; i++) {
    const name = config.id2label?.[i] ?? `LABEL_${i}`;
    id2label[String(i)] = name;
    label2id[name] = i;
  }
  const out: Record<string, unknown> = {};
  if (config.architectures !== undefined) out['architectures'] = [...config.architectures];
  if (config.poolerSize !== undefined && config.poolerSize !== config.hiddenSize) out['webprune_pooler_size'] = config.poolerSize;
  Object.assign(out, {
    attention_probs_dropout_prob: config.attentionDropout,
    hidden_act: config.hiddenAct,
    hidden_dropout_prob: config.hiddenDropout,
    hidden_size: config.hiddenSize,
    id2label,
    initializer_range: config.initializerRange,
    intermediate_size: config.intermediateSize,
    label2id,
    layer_norm_eps: config.layerNormEps,
    max_position_embeddings: config.maxPositionEmbeddings,
    model_type: 'bert',
    num_attention_heads: config.numHeads,
    num_hidden_layers: config.numLayers,
    pad_token_id: config.padTokenId,
    position_embedding_type: 'absolute',
    problem_type: config.problemType,
    type_vocab_size: config.typeVocabSize,
    vocab_size: config.vocabSize,
  });
  if (config.hiddenSize % config.numHeads !== 0 || config.headSize !== config.hiddenSize / config.numHeads) {
    out['attention_head_size'] = config.headSize;
  }
  if (isPruned(config)) {
    out['webprune_layers'] = config.layers.map((l) => ({
      num_attention_heads: l.numHeads,
      intermediate_size: l.intermediateSize,
      ...(l.ranks && Object.keys(l.ranks).length > 0 ? { ranks: Object.fromEntries(LINEAR_KINDS.filter((k) => l.ranks![k] !== undefined).map((k) => [k, l.ranks![k]])) } : {}),
    }));
    // transformers (v4; v5 dropped head pruning) cannot run a layer with 0 heads, so pruned_heads is
    // only written when every layer keeps at least one.
    if (config.layers.every((l) => l.numHeads >= 1 && l.numHeads <= config.numHeads) && config.layers.some((l) => l.numHeads < config.numHeads)) {
      const pruned: Record<string, number[]> = {};
      config.layers.forEach((l, i) => {
        if (l.numHeads < config.numHeads) pruned[String(i)] = Array.from({ length: config.numHeads - l.numHeads }, (_, k) => l.numHeads + k);
      });
      out['pruned_heads'] = pruned;
    }
  }
  return out;
}

/**
 * Checks an in-memory configuration by the same rules as {@link parseConfig} (via its JSON form) and
 * that `layers` has numLayers entries of non-negative integers.
 * @param where name used in error messages.
 * @throws ConfigError naming `where` and the offending key.
 */
export function validateConfig(config: BertConfig, where = 'config'): void {
  if (!Array.isArray(config.layers) || config.layers.length !== config.numLayers) {
    throw new ConfigError(`${where}: layers must have numLayers = ${config.numLayers} entries (got ${config.layers?.length})`);
  }
  config.layers.forEach((l, i) => {
    if (!isInt(l.numHeads) || l.numHeads < 0 || !isInt(l.intermediateSize) || l.intermediateSize < 0) {
      throw new ConfigError(`${where}: layers[${i}] must have non-negative integer numHeads and intermediateSize (got ${JSON.stringify(l)})`);
    }
  });
  parseConfig(configToJson(config), where);
}

/**
 * Reads and validates `DIR/config.json`.
 * @throws Error when the directory or config.json does not exist or is not valid JSON; ConfigError
 *   (see {@link parseConfig}) when the content is invalid.
 */
export function readConfig(dir: string): BertConfig {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`${dir}: model directory does not exist`);
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new Error(`${file}: not found (a model directory needs a transformers config.json)`);
  const text = readUtf8File(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON (${jsonErrorMessage(err)})`);
  }
  return parseConfig(json, file);
}

/** Writes `DIR/config.json` (2-space indented, atomically) after validating the configuration. */
export function writeConfig(dir: string, config: BertConfig): void {
  const file = path.join(dir, 'config.json');
  validateConfig(config, file);
  writeFileAtomic(file, `${JSON.stringify(configToJson(config), null, 2)}\n`);
}

/** Sizes of the project's own models (L layers, H hidden, A heads, I intermediate). */
export const NAMED_SIZES = {
  tiny: { numLayers: 2, hiddenSize: 128, numHeads: 2, intermediateSize: 512 },
  mini: { numLayers: 4, hiddenSize: 256, numHeads: 4, intermediateSize: 1024 },
  small: { numLayers: 4, hiddenSize: 512, numHeads: 8, intermediateSize: 2048 },
  base: { numLayers: 12, hiddenSize: 768, numHeads: 12, intermediateSize: 3072 },
} as const;

/** A name of {@link NAMED_SIZES}. */
export type ModelSizeName = keyof typeof NAMED_SIZES;

/**
 * The dense configuration of one of the project's models: tiny (L2 H128 A2 I512), mini (L4 H256 A4
 * I1024), small (L4 H512 A8 I2048), base (L12 H768 A12 I3072); all with vocab 30522 (bert-base-uncased),
 * 512 positions, 2 token types, LayerNorm eps 1e-12, dropouts 0.1, init range 0.02, 2 labels.
 * @throws Error for an unknown name, listing the known ones.
 */
export function namedConfig(name: string): BertConfig {
  if (!Object.hasOwn(NAMED_SIZES, name)) throw new Error(`unknown model size "${name}" (known: ${Object.keys(NAMED_SIZES).join(', ')})`);
  const s = NAMED_SIZES[name as ModelSizeName];
  return {
    vocabSize: 30522,
    hiddenSize: s.hiddenSize,
    numLayers: s.numLayers,
    numHeads: s.numHeads,
    headSize: s.hiddenSize / s.numHeads,
    intermediateSize: s.intermediateSize,
    layers: Array.from({ length: s.numLayers }, () => ({ numHeads: s.numHeads, intermediateSize: s.intermediateSize })),
    maxPositionEmbeddings: 512,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    hiddenDropout: 0.1,
    attentionDropout: 0.1,
    hiddenAct: 'gelu',
    padTokenId: 0,
    initializerRange: 0.02,
    numLabels: 2,
    problemType: 'single_label_classification',
  };
}

/**
 * A copy of `config` with a task head: `numLabels` 1 means regression, ≥ 2 classification.
 * @param labelNames class names by index (length numLabels), stored as id2label.
 * @throws ConfigError when numLabels is not a positive integer or labelNames has the wrong length.
 */
export function withLabels(config: BertConfig, numLabels: number, labelNames?: readonly string[]): BertConfig {
  if (!isInt(numLabels) || numLabels < 1) throw new ConfigError(`withLabels: numLabels must be a positive integer (got ${numLabels})`);
  if (labelNames !== undefined && labelNames.length !== numLabels) {
    throw new ConfigError(`withLabels: ${labelNames.length} label names for ${numLabels} labels`);
  }
  const out: BertConfig = { ...config, layers: config.layers.map(copyLayer), numLabels, problemType: numLabels === 1 ? 'regression' : 'single_label_classification' };
  delete out.id2label;
  if (labelNames !== undefined) out.id2label = Object.fromEntries(labelNames.map((n, i) => [i, n]));
  return out;
}

/** A deep copy of a layer's structure (ranks included when present). */
export function copyLayer(l: LayerStructure): LayerStructure {
  const out: LayerStructure = { numHeads: l.numHeads, intermediateSize: l.intermediateSize };
  if (l.ranks !== undefined) out.ranks = { ...l.ranks };
  return out;
}

/**
 * A copy of `config` with the given per-layer structure (e.g. after pruning).
 * @throws ConfigError when `layers` does not have numLayers entries of non-negative integers.
 */
export function withLayers(config: BertConfig, layers: readonly LayerStructure[]): BertConfig {
  const out: BertConfig = { ...config, layers: layers.map(copyLayer) };
  validateConfig(out, 'withLayers');
  return out;
}

/**
 * Parameters of one MHA sublayer with `heads` heads (0 when heads = 0):
 * Q, K, V weights [heads·headSize, H] and biases [heads·headSize], output weight [H, heads·headSize]
 * and bias [H] → 4·H·heads·headSize + 3·heads·headSize + H. (The attention LayerNorm is not counted.)
 */
export function mhaParameters(hiddenSize: number, heads: number, headSize: number): number {
  if (heads === 0) return 0;
  const d = heads * headSize;
  return 4 * hiddenSize * d + 3 * d + hiddenSize;
}

/**
 * Parameters of one FFN sublayer of width m (0 when m = 0): intermediate weight [m, H] and bias [m],
 * output weight [H, m] and bias [H] → 2·H·m + m + H. (The output LayerNorm is not counted.)
 */
export function ffnParameters(hiddenSize: number, m: number): number {
  if (m === 0) return 0;
  return 2 * hiddenSize * m + m + hiddenSize;
}

/** Prunable encoder parameter counts of a configuration, per layer and in total. */
export interface ParameterCount {
  perLayer: Array<{ mha: number; ffn: number }>;
  mha: number;
  ffn: number;
  /** mha + ffn: the encoder's prunable parameters. */
  total: number;
}

/**
 * Counts the encoder's prunable parameters from the per-layer structure: MHA (Q, K, V, O weights
 * and biases, see {@link mhaParameters}) and FFN (both dense layers with biases, see
 * {@link ffnParameters}). Embeddings, LayerNorms, pooler and task heads are not counted. These are
 * the quantities that CoFi's sparsity is measured against (sparsity = 1 − pruned total / dense total).
 * A factorised Linear of rank r (LayerStructure.ranks) counts (in + out)·r weights, as FLOP counts it.
 * Example: base (L12 H768 A12 I3072) has 12 × (2,362,368 + 4,722,432) = 85,017,600.
 */
export function parameterCount(config: BertConfig): ParameterCount {
  const perLayer = config.layers.map((l) => {
    // A factorised Linear holds (in + out)·r weights instead of in·out.
    const saved = (kinds: readonly LinearKind[]) =>
      kinds.reduce((s, k) => {
        const r = l.ranks?.[k];
        if (r === undefined) return s;
        const [o, i] = linearShape(config.hiddenSize, config.headSize, l, k);
        return s + o * i - (o + i) * r;
      }, 0);
    return {
      mha: mhaParameters(config.hiddenSize, l.numHeads, config.headSize) - saved(ATTENTION_LINEARS),
      ffn: ffnParameters(config.hiddenSize, l.intermediateSize) - saved(['intermediate', 'output']),
    };
  });
  const mha = perLayer.reduce((s, l) => s + l.mha, 0);
  const ffn = perLayer.reduce((s, l) => s + l.ffn, 0);
  return { perLayer, mha, ffn, total: mha + ffn };
}
