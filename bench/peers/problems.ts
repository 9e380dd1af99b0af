/**
 * The problems `bench peers` poses to every engine: their inputs (host data, seeded), FLOPs, output
 * lists, and the check that a peer's outputs equal ours before it is timed.
 *
 *   gemm       y = x·Wᵀ + b, a Linear layer on T tokens: x [T, K], W [N, K], b [N] → y [T, N]
 *   attention  softmax(Q·Kᵀ/√d + mask)·V per head on q, k, v [B, S, h·d] (the projections' layout)
 *              and an additive key mask [B, S] (0 or MASK_MIN: padding) → [B, S, h·d]
 *   layer      one post-LN BERT encoder layer (Devlin et al. 2019; transformers' BertLayer, GELU in
 *              erf form, layer-norm eps 1e-12), forward and backward of L = Σ y ⊙ dy: outputs y, dL/dx
 *              and dL/d(each of its 16 parameters)
 *   bert       a BERT sequence classifier's inference forward (random weights, the project's named
 *              sizes) from token ids and a padding mask [B, S] to logits [B, 2], read back
 *
 * Checks (ours is the reference; every engine computes in f32):
 *   gemm: |Δy_ij| ≤ 2γ_{K+1}(‖x_i‖‖W_j‖ + |b_j|), γ_n = nu/(1 − nu), u = 2⁻²⁴: both results lie within
 *         γ_{K+1}Σ|terms| of the exact value whatever their summation order (Higham, Accuracy and
 *         Stability of Numerical Algorithms, §3.1), and Σ_k |x_ik W_jk| ≤ ‖x_i‖‖W_j‖.
 *   attention: max|Δ| ≤ 1e-4 · max|V|: each output is a convex combination of V's rows (softmax
 *         weights are positive), so max|V| is its scale; f32 rounding of S-term sums stays orders
 *         of magnitude below this, a wrong mask or head layout far above it.
 *   layer, bert: per output tensor ‖Δ‖₂ ≤ 1e-3 · ‖ours‖₂ (layer norm and softmax keep every tensor
 *         away from zero norm for these random inputs; rounding differences measured on lavapipe
 *         stay near 1e-6), except d key.bias: it is exactly 0 (softmax is invariant to adding
 *         q·b_k to every score of a row), so both engines return rounding noise of a sum of the
 *         key gradients whose terms are the size of the query gradients: ‖Δ‖₂ ≤ 1e-3 · ‖d query.bias‖₂.
 */
import { MASK_MIN, initialValues } from '../../models/bert.ts';
import { type BertConfig, type ModelSizeName, namedConfig } from '../../models/config.ts';
import { classifierForwardFlops } from '../flops.ts';
import { randomValues } from '../timer.ts';

export type Problem =
  | { kind: 'gemm'; label: string; T: number; N: number; K: number }
  | { kind: 'attention'; B: number; S: number; heads: number; d: number }
  | { kind: 'layer'; B: number; S: number; H: number; heads: number; I: number }
  | { kind: 'bert'; model: ModelSizeName; B: number; S: number };

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Named host inputs of a problem (see problemInputs for each kind's names). */
export type Inputs = Record<string, HostTensor>;

/** The 16 parameters of one encoder layer, in the order every engine returns their gradients. */
export const LAYER_PARAMS = [
  'query.weight', 'query.bias', 'key.weight', 'key.bias', 'value.weight', 'value.bias',
  'attn_out.weight', 'attn_out.bias', 'attn_norm.weight', 'attn_norm.bias',
  'ffn_in.weight', 'ffn_in.bias', 'ffn_out.weight', 'ffn_out.bias', 'out_norm.weight', 'out_norm.bias',
] as const;

export type LayerParam = (typeof LAYER_PARAMS)[number];

/** Layer norm epsilon of BERT. */
export const LAYER_NORM_EPS = 1e-12;

/** Row name and shape text. */
export function describeProblem(p: Problem): { name: string; shape: string } {
  switch (p.kind) {
    case 'gemm':
      return { name: `GEMM ${p.label}`, shape: `${p.T}×${p.N}×${p.K}` };
    case 'attention':
      return { name: `attention [${p.B},${p.S},${p.heads}×${p.d}]`, shape: `${p.B}×${p.heads}×(${p.S}×${p.S}×${p.d})` };
    case 'layer':
      return { name: `BERT layer fwd+bwd H=${p.H}`, shape: `B=${p.B} S=${p.S} H=${p.H} A=${p.heads} I=${p.I}` };
    case 'bert':
      return { name: `BERT-${p.model} inference`, shape: `B=${p.B} S=${p.S}` };
  }
}

/** Matrix-product FLOPs (a multiply-add counts 2) of one run; the layer's backward counts twice its forward. */
export function problemFlops(p: Problem): number {
  switch (p.kind) {
    case 'gemm':
      return 2 * p.T * p.N * p.K;
    case 'attention':
      return 4 * p.B * p.heads * p.S * p.S * p.d;
    case 'layer': {
      const T = p.B * p.S;
      const forward = 2 * T * p.H * (4 * p.H + 2 * p.I) + 4 * p.B * p.S * p.S * p.H;
      return 3 * forward;
    }
    case 'bert':
      return classifierForwardFlops(bertConfig(p), p.B, p.S);
  }
}

/** The classifier of a 'bert' problem: a named size without dropout. */
export function bertConfig(p: Extract<Problem, { kind: 'bert' }>): BertConfig {
  return { ...namedConfig(p.model), hiddenDropout: 0, attentionDropout: 0 };
}

/** Uniform [lo, hi) host data, seeded. */
function uniform(shape: number[], seed: number, lo = -1, hi = 1): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = randomValues(n, seed);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + ((r[i]! + 1) / 2) * (hi - lo);
  return { shape, data };
}

/** Additive key mask [B, S]: each sequence keeps a length in [S/2, S], the rest is padding (MASK_MIN). */
export function paddingMask(B: number, S: number, seed: number): HostTensor {
  const r = randomValues(B, seed);
  const data = new Float32Array(B * S);
  const min = Math.ceil(S / 2);
  for (let b = 0; b < B; b++) {
    const len = Math.min(S, min + Math.floor(((r[b]! + 1) / 2) * (S - min + 1)));
    data.fill(MASK_MIN, b * S + len, (b + 1) * S);
  }
  return { shape: [B, S], data };
}

/** Parameter shapes of one layer (transformers' layout: weights [out, in]). */
export function layerParamShapes(H: number, I: number): Record<LayerParam, number[]> {
  return {
    'query.weight': [H, H], 'query.bias': [H], 'key.weight': [H, H], 'key.bias': [H], 'value.weight': [H, H], 'value.bias': [H],
    'attn_out.weight': [H, H], 'attn_out.bias': [H], 'attn_norm.weight': [H], 'attn_norm.bias': [H],
    'ffn_in.weight': [I, H], 'ffn_in.bias': [I], 'ffn_out.weight': [H, I], 'ffn_out.bias': [H], 'out_norm.weight': [H], 'out_norm.bias': [H],
  };
}

/**
 * Seeded host inputs. gemm: x, w, b. attention: q, k, v, mask. layer: x, mask, dy and the 16
 * parameters (weights U(−1, 1)/√fan_in so activations stay O(1), biases U(−0.1, 0.1), layer-norm
 * weights 1 + U(−0.1, 0.1)). bert: input_ids (token ids in [1, vocab), stored exactly as f32),
 * attention_mask (1 for tokens, 0 for padding, lengths in [S/2, S]) and every parameter of the
 * classifier under its transformers name, initialised as transformers does (initialValues).
 */
export function problemInputs(p: Problem, seed: number): Inputs {
  switch (p.kind) {
    case 'gemm':
      return { x: uniform([p.T, p.K], seed), w: uniform([p.N, p.K], seed + 1), b: uniform([p.N], seed + 2) };
    case 'attention': {
      const A = p.heads * p.d;
      return { q: uniform([p.B, p.S, A], seed), k: uniform([p.B, p.S, A], seed + 1), v: uniform([p.B, p.S, A], seed + 2), mask: paddingMask(p.B, p.S, seed + 3) };
    }
    case 'layer': {
      const inputs: Inputs = { x: uniform([p.B, p.S, p.H], seed), mask: paddingMask(p.B, p.S, seed + 1), dy: uniform([p.B, p.S, p.H], seed + 2) };
      const shapes = layerParamShapes(p.H, p.I);
      LAYER_PARAMS.forEach((name, i) => {
        const shape = shapes[name];
        const s = seed + 10 + i;
        if (name.endsWith('norm.weight')) inputs[name] = uniform(shape, s, 0.9, 1.1);
        else if (name.endsWith('.bias')) inputs[name] = uniform(shape, s, -0.1, 0.1);
        else {
          const bound = 1 / Math.sqrt(shape[1]!);
          inputs[name] = uniform(shape, s, -bound, bound);
        }
      });
      return inputs;
    }
    case 'bert': {
      const config = bertConfig(p);
      const r = randomValues(p.B * p.S, seed);
      const ids = Float32Array.from(r, (v) => 1 + Math.floor(((v + 1) / 2) * (config.vocabSize - 1)));
      const mask = paddingMask(p.B, p.S, seed + 1).data.map((v) => (v === 0 ? 1 : 0));
      const inputs: Inputs = { input_ids: { shape: [p.B, p.S], data: ids }, attention_mask: { shape: [p.B, p.S], data: mask } };
      for (const [name, t] of initialValues(config, 'classification', seed + 2)) inputs[name] = t;
      return inputs;
    }
  }
}

/** Names of a problem's outputs, in the order every engine returns them. */
export function outputNames(p: Problem): string[] {
  switch (p.kind) {
    case 'gemm':
    case 'attention':
      return ['y'];
    case 'layer':
      return ['y', 'dx', ...LAYER_PARAMS.map((n) => `d ${n}`)];
    case 'bert':
      return ['logits'];
  }
}

/** The outcome of comparing a peer's outputs with ours. */
export interface Check {
  ok: boolean;
  /** What was measured, e.g. 'max |Δ| / bound'. */
  measure: string;
  /** The measure's value (≤ 1 passes for bound ratios; see `limit`). */
  value: number;
  limit: number;
  /** The output where the measure is worst. */
  worst: string;
}

const U = 2 ** -24;
const gamma = (n: number) => (n * U) / (1 - n * U);

function rowNorms(data: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let k = 0; k < cols; k++) s += data[i * cols + k]! ** 2;
    out[i] = Math.sqrt(s);
  }
  return out;
}

function maxAbs(data: Float32Array): number {
  let m = 0;
  for (const v of data) m = Math.max(m, Math.abs(v));
  return m;
}

/** Largest |Δ_ij| / (2γ_{K+1}(‖x_i‖‖W_j‖ + |b_j|)) (see the header); NaN anywhere makes it infinite. */
function gemmCheck(p: Extract<Problem, { kind: 'gemm' }>, inputs: Inputs, ours: Float32Array, theirs: Float32Array): Check {
  const xn = rowNorms(inputs.x!.data, p.T, p.K);
  const wn = rowNorms(inputs.w!.data, p.N, p.K);
  const b = inputs.b!.data;
  const g = 2 * gamma(p.K + 1);
  let worst = 0;
  for (let i = 0; i < p.T; i++) {
    for (let j = 0; j < p.N; j++) {
      const d = Math.abs(ours[i * p.N + j]! - theirs[i * p.N + j]!);
      const r = d / (g * (xn[i]! * wn[j]! + Math.abs(b[j]!)) + Number.MIN_VALUE);
      worst = Number.isNaN(r) ? Infinity : Math.max(worst, r);
    }
  }
  return { ok: worst <= 1, measure: 'max |Δ| / 2γ(K+1)(‖x_i‖‖W_j‖+|b_j|)', value: worst, limit: 1, worst: 'y' };
}

const norm = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));

/** ‖ours − theirs‖₂ / scale per output; `scale(t)` is the norm the difference is judged against. */
function normRelCheck(names: string[], ours: Float32Array[], theirs: Float32Array[], limit: number, scale: (t: number) => number): Check {
  let worst = 0;
  let where = names[0]!;
  names.forEach((name, t) => {
    let d = 0;
    const a = ours[t]!;
    const b = theirs[t]!;
    for (let i = 0; i < a.length; i++) d += (a[i]! - b[i]!) ** 2;
    const r = Math.sqrt(d) / scale(t);
    const v = Number.isNaN(r) ? Infinity : r;
    if (v > worst) {
      worst = v;
      where = name;
    }
  });
  return { ok: worst <= limit, measure: '‖Δ‖₂ / ‖ours‖₂ (d key.bias: / ‖d query.bias‖₂)', value: worst, limit, worst: where };
}

/**
 * Compares a peer's outputs with ours (see the header for each kind's criterion).
 * @throws Error when the peer returned the wrong number of outputs or a wrong size
 */
export function checkOutputs(p: Problem, inputs: Inputs, ours: readonly Float32Array[], theirs: readonly Float32Array[]): Check {
  const names = outputNames(p);
  if (theirs.length !== names.length) throw new Error(`expected ${names.length} outputs (${names.join(', ')}), got ${theirs.length}`);
  names.forEach((n, i) => {
    if (theirs[i]!.length !== ours[i]!.length) throw new Error(`output ${n} has ${theirs[i]!.length} values, ours ${ours[i]!.length}`);
  });
  switch (p.kind) {
    case 'gemm':
      return gemmCheck(p, inputs, ours[0]!, theirs[0]!);
    case 'attention': {
      const scale = maxAbs(inputs.v!.data);
      let d = 0;
      for (let i = 0; i < ours[0]!.length; i++) {
        const e = Math.abs(ours[0]![i]! - theirs[0]![i]!);
        d = Number.isNaN(e) ? Infinity : Math.max(d, e);
      }
      const value = d / scale;
      return { ok: value <= 1e-4, measure: 'max |Δ| / max |V|', value, limit: 1e-4, worst: 'y' };
    }
    case 'bert':
      return normRelCheck(names, [...ours], [...theirs], 1e-3, (t) => norm(ours[t]!));
    case 'layer': {
      const keyBias = names.indexOf('d key.bias');
      const queryBias = names.indexOf('d query.bias');
      return normRelCheck(names, [...ours], [...theirs], 1e-3, (t) => norm(ours[t === keyBias ? queryBias : t]!));
    }
  }
}
