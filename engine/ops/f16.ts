/**
 * f16 inference ops: tensors stored in IEEE binary16, arithmetic in f32 (engine/kernels/f16/).
 *
 * The generic ops route here when their first operand is f16 (matmul, layerNorm, add, gelu, tanh,
 * embedding), so a model written against E.* runs in f16 once its weights are cast: one forward,
 * two storage precisions. Shape ops (reshape, narrow, permute, ...) work on f16 as they are (their
 * copy kernel is templated on the element type). These ops record no autograd: f16 is for
 * inference only, and an input that requires a gradient is refused.
 *
 * Precision (u16 = 2^-10: WGSL rounds a value to either adjacent f16, so one rounding errs by at
 * most one f16 unit, 2^-11 when the device rounds to nearest as lavapipe does; u32 = 2^-24): every
 * op reads f16 values exactly as f32, computes in f32, and rounds its result to f16 once. A GEMM's
 * element therefore carries |error| ≤ u16·|c| + (K + 1)·u32·Σ_k|a_ik b_kj| (f32 accumulation,
 * Higham 2002 §3.1) beyond the error already in its f16 inputs; layer norm's statistics and the
 * attention softmax are f32 (its kernel is in models/). Values past f16's ±65504 are not
 * representable: WGSL leaves their conversion's result undefined (castModel refuses such weights).
 */
import { getEngine } from '../context.ts';
import type { DType } from '../dtype.ts';
import { K } from '../kernels/index.ts';
import { type Shape, Tensor, grid1d, shapeString, sizeOf } from '../tensor.ts';
import { launch } from './dispatch.ts';
import { planMatmul } from './matmul.ts';

/** Largest finite f16. */
export const F16_MAX = 65504;

/** @throws Error naming the op and tensor when a tensor has the wrong dtype or wants a gradient */
function expect(op: string, t: Tensor, dtype: DType): void {
  if (t.dtype !== dtype) throw new Error(`${op}: ${t.label} ${shapeString(t.shape)} is ${t.dtype}, expected ${dtype}`);
  if (t.requiresGrad) throw new Error(`${op}: ${t.label} requires a gradient, but f16 ops are inference-only (cast a frozen model: models/precision.ts)`);
}

/**
 * x converted to `dtype` (f32 → f16 rounds to an adjacent f16: the nearest on lavapipe, either
 * neighbour by WGSL's rules; past ±65504 undefined; f16 → f32 is exact). Returns x itself when it already has that dtype. Shapes: any → the same.
 * @throws Error when x is not f32 or f16
 */
export function cast(x: Tensor, dtype: 'f32' | 'f16'): Tensor {
  if (x.dtype === dtype) return x;
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new Error(`cast: ${x.label} is ${x.dtype}; only f32 ⇄ f16 casts exist`);
  const y = Tensor.empty(x.shape, dtype, `cast#`);
  launch(K.castF16, { defines: { FROM: x.dtype, TO: dtype }, tensors: { x, y }, uniforms: { params: { n: x.size } }, workgroups: grid1d(Math.max(x.size, 1)) });
  return y;
}

/** Activations a GEMM can apply in its epilogue (before the f16 rounding). */
export const GEMM_ACTIVATIONS = { none: 0, gelu: 1, tanh: 2 } as const;

export interface MatmulF16Options {
  transA?: boolean;
  transB?: boolean;
  /** [N] f32, added to every row. */
  bias?: Tensor;
  /** Applied to op(a)·op(b) + bias in f32. Default none. */
  activation?: keyof typeof GEMM_ACTIVATIONS;
}

/**
 * act(op(a)·op(b) + bias) with f16 a, b and result and f32 accumulation (matmul_f16.wgsl). Shapes and
 * batching as E.matmul: a [..., M, K], b [..., K, N] (or transposed), result [..., M, N].
 * @throws Error when shapes do not fit, a or b is not f16, or the bias is not f32 [N]
 */
export function matmulF16(a: Tensor, b: Tensor, options: MatmulF16Options = {}): Tensor {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  expect('matmul (f16)', a, 'f16');
  expect('matmul (f16)', b, 'f16');
  const p = planMatmul(a, b, transA, transB);
  const bias = options.bias ?? null;
  if (bias) {
    expect('matmul (f16)', bias, 'f32');
    if (bias.shape.length !== 1 || bias.shape[0] !== p.N) throw new Error(`matmul (f16): bias ${bias.label} ${shapeString(bias.shape)} does not match N = ${p.N}`);
  }
  const c = Tensor.empty(p.outShape, 'f16', 'matmul_f16#');
  launch(K.matmulF16, {
    constants: { TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0, HAS_BIAS: bias ? 1 : 0, ACT: GEMM_ACTIVATIONS[options.activation ?? 'none'] },
    tensors: { a, b, bias, c },
    uniforms: { params: { M: p.M, N: p.N, K: p.K, stride_a: p.strideA, stride_b: p.strideB, stride_c: p.M * p.N } },
    workgroups: [Math.ceil(p.N / 64), Math.ceil(p.M / 64), p.batch],
  });
  return c;
}

/**
 * Layer norm over the last axis of an f16 x with f32 gamma, beta and statistics (layer_norm_f16.wgsl).
 * Shapes: x [..., C], gamma and beta [C] → [..., C] f16.
 * @throws Error for other dtypes or shapes, or a `keep` mask (masked layer norms are not supported in f16)
 */
export function layerNormF16(x: Tensor, gamma: Tensor, beta: Tensor, options: { eps: number; keep?: Tensor }): Tensor {
  if (options.keep) throw new Error(`layerNorm (f16): a keep mask (hidden_z) is not supported in f16 inference; compact the model first`);
  expect('layerNorm (f16)', x, 'f16');
  const C = x.shape[x.shape.length - 1] ?? 1;
  for (const t of [gamma, beta]) {
    expect('layerNorm (f16)', t, 'f32');
    if (t.shape.length !== 1 || t.shape[0] !== C) throw new Error(`layerNorm (f16): ${t.label} ${shapeString(t.shape)} is not [${C}]`);
  }
  const rows = x.size / Math.max(C, 1);
  const y = Tensor.empty(x.shape, 'f16', 'layer_norm_f16#');
  if (rows === 0 || C === 0) return y;
  launch(K.layerNormF16, { tensors: { x, gamma, beta, y }, uniforms: { params: { rows, cols: C, eps: options.eps } }, workgroups: grid1d(rows, 1) });
  return y;
}

function elementwise(op: 'add' | 'gelu' | 'tanh', a: Tensor, b: Tensor | null): Tensor {
  const y = Tensor.empty(a.shape, 'f16', `${op}_f16#`);
  launch(K.elementwiseF16, {
    constants: { OP: { add: 0, gelu: 1, tanh: 2 }[op] },
    tensors: { a, b, y },
    uniforms: { params: { n: a.size, nb: Math.max(b?.size ?? 1, 1) } },
    workgroups: grid1d(Math.max(a.size, 1)),
  });
  return y;
}

/**
 * a + b in f16, b broadcast over a's leading axes (b's shape is a suffix of a's, as a position
 * embedding [S, H] added to [B, S, H]).
 * @throws Error when either is not f16, or b's shape is not a suffix of a's
 */
export function addF16(a: Tensor, b: Tensor): Tensor {
  expect('add (f16)', a, 'f16');
  expect('add (f16)', b, 'f16');
  const suffix: Shape = a.shape.slice(a.shape.length - b.shape.length);
  if (b.shape.length > a.shape.length || suffix.some((d, i) => d !== b.shape[i])) {
    throw new Error(`add (f16): ${b.label} ${shapeString(b.shape)} does not broadcast over ${a.label} ${shapeString(a.shape)} (f16 add broadcasts the second operand over leading axes only)`);
  }
  return elementwise('add', a, b);
}

/** GELU (erf form) of an f16 tensor, computed in f32. @throws Error when x is not f16 */
export function geluF16(x: Tensor): Tensor {
  expect('gelu (f16)', x, 'f16');
  return elementwise('gelu', x, null);
}

/** tanh of an f16 tensor, computed in f32. @throws Error when x is not f16 */
export function tanhF16(x: Tensor): Tensor {
  expect('tanh (f16)', x, 'f16');
  return elementwise('tanh', x, null);
}

/**
 * Rows of an f16 table: [vocab, H] table, i32 ids of any shape → [...ids.shape, H] f16 (a copy).
 * @throws Error when the table is not a 2-D f16 tensor, ids are not i32, or an id (known on the
 *   host) is outside [0, vocab)
 */
export function embeddingF16(table: Tensor, ids: Tensor): Tensor {
  expect('embedding (f16)', table, 'f16');
  if (table.shape.length !== 2) throw new Error(`embedding (f16): table ${table.label} must be [vocab, dim], got ${shapeString(table.shape)}`);
  if (ids.dtype !== 'i32') throw new Error(`embedding (f16): ids ${ids.label} are ${ids.dtype}, expected i32`);
  const [vocab, H] = table.shape as [number, number];
  const bad = ids.hostCopy?.findIndex((v) => v < 0 || v >= vocab) ?? -1;
  if (bad >= 0) throw new Error(`embedding (f16): id ${ids.hostCopy![bad]} at ${bad} of ${ids.label} is outside [0, ${vocab})`);
  const out = Tensor.empty([...ids.shape, H], 'f16', 'embedding_f16#');
  const n = sizeOf(out.shape);
  launch(K.embeddingF16, { tensors: { table, ids, out }, uniforms: { params: { n, H } }, workgroups: grid1d(Math.max(n, 1)) });
  return out;
}

/** Whether the engine's device can run f16 kernels ('shader-f16'). */
export function hasShaderF16(): boolean {
  return getEngine().gpu.features.has('shader-f16');
}
