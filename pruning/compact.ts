/**
 * Physical compaction: a smaller BERT without the pruned hidden dims, heads, FFN units and whole
 * sub-layers, computing exactly what the masked model computes with the same (deterministic) z.
 *
 * The z values are folded into the weights (CoFi's update_params, made exact for soft z):
 * - hidden_z (kept dims K): the masked model scales the embedding sum, each sub-layer output and
 *   each layer-norm output by hidden_z. Embedding columns, output-projection rows and biases, and
 *   every layer norm's gamma and beta are scaled by hidden_z[K], so the compacted residual stream
 *   equals the masked one on K (and the masked one is 0 elsewhere). Q, K, V, intermediate and
 *   pooler weights just lose the columns outside K.
 * - head_z scales a head's context, which is linear in V: it scales that head's V rows and bias.
 * - head_layer_z scales the attention output projection: its weight and bias.
 * - intermediate_z scales FFN activations after GELU: the FFN output weight's columns.
 * - mlp_z scales the FFN output: its weight and bias.
 * Layers left with no head (no unit) lose the whole sub-layer: the masked model passes x through
 * there too (models/bert.ts skips the layer norm of an all-zero sub-layer output).
 */
import { type HeadKind, layerNames } from '../models/bert.ts';
import type { BertConfig } from '../models/config.ts';
import type { FullMasks } from './structure.ts';

type Values = ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>;
type Out = Map<string, { shape: number[]; data: Float32Array }>;

/**
 * Rows `rows` and columns `cols` of a row-major [R, C] matrix, scaled by rowScale[r]·colScale[c].
 */
function submatrix(src: { shape: readonly number[]; data: Float32Array }, rows: readonly number[], cols: readonly number[], rowScale?: (r: number) => number, colScale?: (c: number) => number): { shape: number[]; data: Float32Array } {
  const C = src.shape[1]!;
  const out = new Float32Array(rows.length * cols.length);
  rows.forEach((r, i) => {
    const rs = rowScale ? rowScale(r) : 1;
    cols.forEach((c, j) => {
      out[i * cols.length + j] = src.data[r * C + c]! * rs * (colScale ? colScale(c) : 1);
    });
  });
  return { shape: [rows.length, cols.length], data: out };
}

function subvector(src: { data: Float32Array }, idx: readonly number[], scale?: (i: number) => number): { shape: number[]; data: Float32Array } {
  return { shape: [idx.length], data: Float32Array.from(idx, (i) => src.data[i]! * (scale ? scale(i) : 1)) };
}

const range = (n: number) => [...Array(n).keys()];

/**
 * The compacted configuration and parameters.
 * @param values every parameter of the dense model (by transformers name)
 * @throws Error naming the tensor when one is missing
 */
export function compact(config: BertConfig, head: HeadKind, values: Values, m: FullMasks): { config: BertConfig; values: Out } {
  if (head === 'mlm') throw new Error('compact: MLM models are not pruned; prune a classification or regression model');
  const get = (name: string) => {
    const v = values.get(name);
    if (!v) throw new Error(`compact: missing tensor ${name}`);
    return v;
  };
  const { numHeads: h, headSize: d, intermediateSize: I } = config;
  const K = range(config.hiddenSize).filter((j) => m.hidden[j] !== 0);
  const hz = (j: number) => m.hidden[j]!;
  const out: Out = new Map();
  const put = (name: string, v: { shape: number[]; data: Float32Array }) => out.set(name, v);
  const norm = (name: string) => {
    put(`${name}.weight`, subvector(get(`${name}.weight`), K, hz));
    put(`${name}.bias`, subvector(get(`${name}.bias`), K, hz));
  };

  for (const table of ['word_embeddings', 'position_embeddings', 'token_type_embeddings']) {
    const name = `bert.embeddings.${table}.weight`;
    put(name, submatrix(get(name), range(get(name).shape[0]!), K, undefined, hz));
  }
  norm('bert.embeddings.LayerNorm');

  const layers = config.layers.map((_, l) => {
    const n = layerNames(l);
    const headLayer = m.head_layer[l]!;
    const kept = headLayer === 0 ? [] : range(h).filter((k) => m.head[l * h + k] !== 0);
    if (kept.length > 0) {
      const rows = kept.flatMap((k) => range(d).map((i) => k * d + i));
      const headOfRow = (r: number) => m.head[l * h + Math.floor(r / d)]!;
      for (const proj of [n.query, n.key]) {
        put(`${proj}.weight`, submatrix(get(`${proj}.weight`), rows, K));
        put(`${proj}.bias`, subvector(get(`${proj}.bias`), rows));
      }
      put(`${n.value}.weight`, submatrix(get(`${n.value}.weight`), rows, K, headOfRow));
      put(`${n.value}.bias`, subvector(get(`${n.value}.bias`), rows, headOfRow));
      put(`${n.attnOut}.weight`, submatrix(get(`${n.attnOut}.weight`), K, rows, (j) => hz(j) * headLayer));
      put(`${n.attnOut}.bias`, subvector(get(`${n.attnOut}.bias`), K, (j) => hz(j) * headLayer));
    }
    norm(n.attnNorm);
    const mlp = m.mlp[l]!;
    const units = mlp === 0 ? [] : range(I).filter((i) => m.intermediate[l * I + i] !== 0);
    if (units.length > 0) {
      put(`${n.intermediate}.weight`, submatrix(get(`${n.intermediate}.weight`), units, K));
      put(`${n.intermediate}.bias`, subvector(get(`${n.intermediate}.bias`), units));
      put(`${n.output}.weight`, submatrix(get(`${n.output}.weight`), K, units, (j) => hz(j) * mlp, (i) => m.intermediate[l * I + i]!));
      put(`${n.output}.bias`, subvector(get(`${n.output}.bias`), K, (j) => hz(j) * mlp));
    }
    norm(n.outNorm);
    return { numHeads: kept.length, intermediateSize: units.length };
  });

  const pooler = get('bert.pooler.dense.weight');
  put('bert.pooler.dense.weight', submatrix(pooler, range(pooler.shape[0]!), K));
  put('bert.pooler.dense.bias', subvector(get('bert.pooler.dense.bias'), range(pooler.shape[0]!)));
  if (head === 'classification') {
    put('classifier.weight', { shape: [...get('classifier.weight').shape], data: get('classifier.weight').data.slice() });
    put('classifier.bias', { shape: [...get('classifier.bias').shape], data: get('classifier.bias').data.slice() });
  }
  const compacted: BertConfig = {
    ...config,
    hiddenSize: K.length,
    layers,
    poolerSize: config.poolerSize ?? config.hiddenSize,
  };
  return { config: compacted, values: out };
}
