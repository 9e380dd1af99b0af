/**
 * FLOP counts of BERT's matrix products, by hand formula from the per-layer structure.
 *
 * Only matrix products are counted (a multiply-add is 2 FLOPs); biases, softmax, layer norms,
 * GELU and embeddings are left out, as in CoFi's and most papers' FLOP counts. With T = B·S tokens,
 * hidden size H, a layer with h heads of size d (A = h·d) and FFN width I:
 *
 *   QKV projections   2·T·H·3A
 *   scores QKᵀ        2·B·h·S²·d
 *   context P·V       2·B·h·S²·d
 *   output projection 2·T·A·H
 *   FFN (two GEMMs)   2·T·H·I·2
 *
 * A layer with h = 0 has no attention terms, one with I = 0 no FFN term. A rank-pruned Linear
 * (in → out, rank r: two GEMMs through r) costs 2·T·r·(in + out) instead of 2·T·in·out. The ideal
 * speedup of a pruned model is the dense encoder's FLOPs over the pruned encoder's FLOPs at the same
 * B and S.
 */
import { type BertConfig, type LayerStructure, type LinearKind, linearShape } from '../models/config.ts';

/** Encoder FLOPs of one layer by term. */
export interface LayerFlops {
  qkv: number;
  scores: number;
  context: number;
  output: number;
  ffn: number;
  total: number;
}

/** Encoder FLOPs of a whole model: per layer and summed. */
export interface EncoderFlops {
  perLayer: LayerFlops[];
  total: number;
}

function checkDims(batch: number, seq: number): void {
  if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(seq) || seq < 1) {
    throw new Error(`FLOP count: batch and sequence length must be positive integers (got ${batch}, ${seq})`);
  }
}

/**
 * FLOPs of one encoder layer (see the module comment for the formula).
 * @param hidden H; heads h; headSize d; intermediate I
 * @throws Error when batch or seq is not a positive integer
 */
export function layerFlops(hidden: number, heads: number, headSize: number, intermediate: number, batch: number, seq: number, ranks?: LayerStructure['ranks']): LayerFlops {
  checkDims(batch, seq);
  const T = batch * seq;
  const layer = { numHeads: heads, intermediateSize: intermediate };
  // 2·T·in·out per Linear, or 2·T·r·(in + out) when factorised.
  const linear = (kind: LinearKind) => {
    const [o, i] = linearShape(hidden, headSize, layer, kind);
    const r = ranks?.[kind];
    return r === undefined ? 2 * T * i * o : 2 * T * r * (i + o);
  };
  const qkv = heads > 0 ? linear('query') + linear('key') + linear('value') : 0;
  const scores = 2 * batch * heads * seq * seq * headSize;
  const context = 2 * batch * heads * seq * seq * headSize;
  const output = heads > 0 ? linear('attention_output') : 0;
  const ffn = intermediate > 0 ? linear('intermediate') + linear('output') : 0;
  return { qkv, scores, context, output, ffn, total: qkv + scores + context + output + ffn };
}

/**
 * Encoder FLOPs of a configuration for a batch of `batch` sequences of length `seq`.
 * @throws Error when batch or seq is not a positive integer
 */
export function encoderFlops(config: BertConfig, batch: number, seq: number): EncoderFlops {
  const perLayer = config.layers.map((l) => layerFlops(config.hiddenSize, l.numHeads, config.headSize, l.intermediateSize, batch, seq, l.ranks));
  return { perLayer, total: perLayer.reduce((s, l) => s + l.total, 0) };
}

/**
 * FLOPs of a sequence-classification forward pass: the encoder plus the pooler (2·B·H·P) and the
 * classifier (2·B·P·C), P the pooler width and C the number of labels.
 */
export function classifierForwardFlops(config: BertConfig, batch: number, seq: number): number {
  const P = config.poolerSize ?? config.hiddenSize;
  return encoderFlops(config, batch, seq).total + 2 * batch * config.hiddenSize * P + 2 * batch * P * config.numLabels;
}

/**
 * Ideal speedup of `pruned` over `dense`: dense encoder FLOPs / pruned encoder FLOPs at the same
 * batch and sequence length (Infinity when the pruned encoder has no FLOPs left).
 */
export function idealSpeedup(dense: BertConfig, pruned: BertConfig, batch: number, seq: number): number {
  return encoderFlops(dense, batch, seq).total / encoderFlops(pruned, batch, seq).total;
}
