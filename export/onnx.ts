/**
 * ONNX export of a webprune sequence classifier (dense, or compacted by CoFi with each layer's
 * own head count and FFN width), built from the checkpoint's host tensors: no GPU needed.
 *
 * The graph is BertForSequenceClassification's inference forward as webprune computes it
 * (models/bert.ts), in ai.onnx opset 17:
 * - inputs `input_ids`, `attention_mask`, `token_type_ids`: int64 [batch, sequence] (both axes dynamic);
 *   output `logits`: [batch, num_labels];
 * - embeddings: Gather(word) + Slice(position, 0..S) + Gather(token type) → LayerNormalization;
 * - the additive mask (1 − mask)·m with m = float32 min (transformers' value; float16 min in a
 *   float16 graph), unsqueezed to [B, 1, 1, S];
 * - per layer with h > 0 heads: Q, K, V = MatMul + Add with [H, h·d] weights, Reshape [B, S, h, d],
 *   scores Q·Kᵀ·(1/√d) + mask, Softmax, context → [B, S, h·d], output MatMul + Add, residual,
 *   LayerNormalization; a layer with h = 0 has none of these nodes (its sub-layer was removed);
 * - per layer with m > 0 FFN units: MatMul + Add [H, m], GELU as x·½(1 + erf(x/√2)) (the pattern
 *   ONNX Runtime fuses into one Gelu), MatMul + Add [m, H], residual, LayerNormalization; none when m = 0;
 * - pooler Gather(CLS) → Gemm → Tanh, classifier Gemm.
 * Linear weights are stored transposed ([in, out], as MatMul takes them) under their transformers
 * names; every other initializer keeps its name and layout. All float initializers and activations
 * are float32 (`dtype` 'f32') or float16 ('f16': half the file; for GPU execution providers).
 *
 * Rank-pruned (factorised) Linears (config `ranks`, tensors `.weight_q`, `.weight_p`) are two
 * MatMuls, (x·Pᵀ)·Qᵀ + b, as webprune computes them; at rank 0 only the bias remains.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type BertConfig, configToJson } from '../models/config.ts';
import { MASK_MIN } from '../models/bert.ts';
import type { Checkpoint, HostTensor } from '../models/io/checkpoint.ts';
import { writeFileAtomic } from '../models/io/atomic.ts';
import type { InferenceDType } from '../engine/dtype.ts';
import { DataType, type FloatType, OnnxGraph, type OnnxModelProto, encodeModel } from './onnx_graph.ts';

/** ai.onnx opset of the exported graphs (LayerNormalization needs 17). */
export const ONNX_OPSET = 17;
/** Largest finite float16 magnitude: the additive mask of a float16 graph. */
const F16_MAX = 65504;

/** The float type of an ONNX export: the project's inference precision (engine/dtype.ts). */
export type OnnxDType = InferenceDType;

/** The file an ONNX export of this dtype is written to, inside the export's `onnx/` folder. */
export function onnxFileName(dtype: OnnxDType): string {
  return dtype === 'f16' ? 'model_fp16.onnx' : 'model.onnx';
}

/** Names of the graph's inputs and output (what ONNX Runtime sessions are fed and return). */
export const ONNX_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'] as const;
export const ONNX_OUTPUT = 'logits';

/** Row-major transpose of a 2-D host tensor: [r, c] → [c, r]. */
export function transpose2d(t: HostTensor): HostTensor {
  const [r, c] = t.shape as [number, number];
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j]!;
  return { shape: [c, r], data: out };
}

/** Builds the BERT graph on an OnnxGraph from a checkpoint's tensors. */
class BertOnnxBuilder {
  readonly g: OnnxGraph;
  private readonly config: BertConfig;

  constructor(
    private readonly ckpt: Checkpoint,
    floatType: FloatType,
  ) {
    this.g = new OnnxGraph(floatType);
    this.config = ckpt.config;
  }

  private tensor(name: string): HostTensor {
    const t = this.ckpt.tensors.get(name);
    if (!t) throw new Error(`ONNX export: the checkpoint has no tensor ${name}`);
    return t;
  }

  /** An initializer holding the checkpoint tensor `name` as it is. */
  private param(name: string): string {
    const t = this.tensor(name);
    return this.g.floatInitializer(name, t.shape, t.data);
  }

  /** A checkpoint tensor stored transposed (a Linear's [out, in] weight as MatMul's [in, out]). */
  private transposed(name: string): string {
    const t = transpose2d(this.tensor(name));
    return this.g.floatInitializer(name, t.shape, t.data);
  }

  /**
   * x·Wᵀ + b for the Linear `name` (transformers' weight [out, in], stored transposed). A
   * rank-pruned (factorised) Linear W = Q·P (`.weight_q` [out, r], `.weight_p` [r, in]) is two
   * MatMuls, (x·Pᵀ)·Qᵀ + b; at rank 0 it has neither factor and its output is b at every position.
   */
  linear(x: string, name: string): string {
    const g = this.g;
    const bias = this.param(`${name}.bias`);
    if (this.ckpt.tensors.has(`${name}.weight`)) return g.op('Add', [g.op('MatMul', [x, this.transposed(`${name}.weight`)]), bias]);
    if (this.ckpt.tensors.has(`${name}.weight_q`)) {
      return g.op('Add', [g.op('MatMul', [g.op('MatMul', [x, this.transposed(`${name}.weight_p`)]), this.transposed(`${name}.weight_q`)]), bias]);
    }
    // Rank 0: [B, S, out] filled with b.
    const out = this.tensor(`${name}.bias`).shape[0]!;
    return g.op('Expand', [bias, g.op('Concat', [g.op('Shape', [x], { end: { i: -1 } }), g.ints([out])], { axis: { i: 0 } })]);
  }

  private layerNorm(x: string, name: string): string {
    return this.g.op('LayerNormalization', [x, this.param(`${name}.weight`), this.param(`${name}.bias`)], { axis: { i: -1 }, epsilon: { f: this.config.layerNormEps } });
  }

  /** [B, S] ids → [B, S, H] normalised embeddings. */
  private embeddings(ids: string, types: string): string {
    const g = this.g;
    const word = g.op('Gather', [this.param('bert.embeddings.word_embeddings.weight'), ids]);
    const seqLen = g.op('Shape', [ids], { start: { i: 1 }, end: { i: 2 } });
    const positions = g.op('Slice', [this.param('bert.embeddings.position_embeddings.weight'), g.ints([0]), seqLen, g.ints([0])]);
    const typeEmb = g.op('Gather', [this.param('bert.embeddings.token_type_embeddings.weight'), types]);
    return this.layerNorm(g.op('Add', [g.op('Add', [word, positions]), typeEmb]), 'bert.embeddings.LayerNorm');
  }

  /** [B, S] 1/0 mask → additive [B, 1, 1, S]: 0 for tokens, the float type's min for padding. */
  private additiveMask(mask: string): string {
    const g = this.g;
    const min = g.floatType === DataType.FLOAT16 ? -F16_MAX : MASK_MIN;
    const m = g.op('Cast', [mask], { to: { i: g.floatType } });
    const add = g.op('Mul', [g.op('Sub', [g.scalar(1), m]), g.scalar(min)]);
    return g.op('Unsqueeze', [add, g.ints([1, 2])], {}, 'additive_mask');
  }

  /** Multi-head self-attention of layer `l` with `h` heads: [B, S, H] → [B, S, H] (before the residual). */
  private attention(x: string, mask: string, l: number, h: number): string {
    const g = this.g;
    const d = this.config.headSize;
    const p = `bert.encoder.layer.${l}.attention`;
    const heads = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, g.ints([0, 0, h, d])])], { perm: { ints: perm } });
    const q = heads(this.linear(x, `${p}.self.query`), [0, 2, 1, 3]);
    const kT = heads(this.linear(x, `${p}.self.key`), [0, 2, 3, 1]);
    const v = heads(this.linear(x, `${p}.self.value`), [0, 2, 1, 3]);
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, kT]), g.scalar(1 / Math.sqrt(d))]), mask]);
    const probs = g.op('Softmax', [scores], { axis: { i: -1 } });
    const context = g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: { ints: [0, 2, 1, 3] } });
    return this.linear(g.op('Reshape', [context, g.ints([0, 0, h * d])]), `${p}.output.dense`);
  }

  /** The FFN of layer `l`: [B, S, H] → [B, S, H] (before the residual). */
  private ffn(x: string, l: number): string {
    const g = this.g;
    const p = `bert.encoder.layer.${l}`;
    const i = this.linear(x, `${p}.intermediate.dense`);
    // GELU, erf form, in the node order ONNX Runtime's GeluFusion matches.
    const erf = g.op('Erf', [g.op('Div', [i, g.scalar(Math.SQRT2)])]);
    const gelu = g.op('Mul', [g.op('Mul', [i, g.op('Add', [erf, g.scalar(1)])]), g.scalar(0.5)]);
    return this.linear(gelu, `${p}.output.dense`);
  }

  /** The whole graph; returns the logits value. */
  build(): string {
    const g = this.g;
    const dims = ['batch', 'sequence'];
    const ids = g.input('input_ids', DataType.INT64, dims);
    const maskIn = g.input('attention_mask', DataType.INT64, dims);
    const types = g.input('token_type_ids', DataType.INT64, dims);
    let x = this.embeddings(ids, types);
    const mask = this.additiveMask(maskIn);
    this.config.layers.forEach((layer, l) => {
      const p = `bert.encoder.layer.${l}`;
      if (layer.numHeads > 0) x = this.layerNorm(g.op('Add', [this.attention(x, mask, l, layer.numHeads), x]), `${p}.attention.output.LayerNorm`);
      if (layer.intermediateSize > 0) x = this.layerNorm(g.op('Add', [this.ffn(x, l), x]), `${p}.output.LayerNorm`);
    });
    const cls = g.op('Gather', [x, g.intInitializer('cls_index', [], [0])], { axis: { i: 1 } });
    const gemm = (input: string, name: string) => g.op('Gemm', [input, this.param(`${name}.weight`), this.param(`${name}.bias`)], { transB: { i: 1 } });
    const pooled = g.op('Tanh', [gemm(cls, 'bert.pooler.dense')]);
    const logits = gemm(pooled, 'classifier');
    g.output(logits, ONNX_OUTPUT, g.floatType, ['batch', this.config.numLabels]);
    return logits;
  }
}

/**
 * The ONNX model of a sequence-classification checkpoint (see the module comment).
 * @param options.dtype 'f32' (default) or 'f16' for every float initializer and activation
 * @param options.metadata extra string metadata (model card facts); the config's JSON is always added
 * @throws Error when the checkpoint is not a sequence classifier (MLM and bare encoders are not exported)
 */
export function buildOnnxModel(ckpt: Checkpoint, options: { dtype?: OnnxDType; metadata?: Record<string, string> } = {}): { model: OnnxModelProto; graph: OnnxGraph } {
  if (ckpt.head !== 'classification') throw new Error(`ONNX export: only sequence classifiers are exported (this checkpoint is a ${ckpt.head} model)`);
  const floatType = options.dtype === 'f16' ? DataType.FLOAT16 : DataType.FLOAT;
  const builder = new BertOnnxBuilder(ckpt, floatType);
  builder.build();
  const metadata = { ...options.metadata, webprune_config: JSON.stringify(configToJson(ckpt.config)), dtype: options.dtype ?? 'f32' };
  return { model: builder.g.model('webprune_bert_classifier', ONNX_OPSET, metadata), graph: builder.g };
}

/** The `.onnx` bytes of a sequence-classification checkpoint (see {@link buildOnnxModel}). */
export function onnxBytes(ckpt: Checkpoint, options: { dtype?: OnnxDType; metadata?: Record<string, string> } = {}): Uint8Array {
  return encodeModel(buildOnnxModel(ckpt, options).model);
}

/**
 * Writes `OUT/onnx/model.onnx` (or `model_fp16.onnx`) atomically, creating the folders.
 * @returns the path written
 */
export function writeOnnx(ckpt: Checkpoint, outDir: string, options: { dtype?: OnnxDType; metadata?: Record<string, string> } = {}): string {
  const file = path.join(outDir, 'onnx', onnxFileName(options.dtype ?? 'f32'));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, onnxBytes(ckpt, options));
  return file;
}
