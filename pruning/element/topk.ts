/**
 * The exact top-k mask of a score matrix on the GPU, as movement pruning needs every step (Sanh,
 * Wolf, Rush 2020, §3: M = Top_v(S), straight-through gradient ∂L/∂S = ∂L/∂M).
 *
 * Radix select over 56-bit keys (pruning/kernels/lib/topk_key.wgsl): the score's f32 bits in an
 * order-preserving form, then the inverted index, so ties between equal scores go to the lower
 * index and exactly k elements are selected. Seven passes of 8-bit digits, most significant first:
 * a histogram of the digit over the elements that agree with the prefix found so far
 * (topk_histogram.wgsl), then one thread picks the digit that holds the k-th largest key
 * (topk_select.wgsl); the final prefix is the k-th largest key and the mask is key ≥ it
 * (topk_mask.wgsl). Everything stays on the GPU (no readback); cost 8 reads of the scores.
 */
import * as E from '../../engine/index.ts';
import { Tensor, defineOp, launch, shapeString } from '../../engine/index.ts';
import { PRUNING_KERNELS } from '../kernels/index.ts';

/** Keys hold the index in 24 bits. */
export const TOPK_MAX_ELEMENTS = 1 << 24;
const PASSES = 7;

/** The 0/1 mask of the k largest scores (no autograd). */
function topKMaskKernel(scores: Tensor, k: number): Tensor {
  const n = scores.size;
  if (k === 0) return E.zeros(scores.shape);
  if (k === n) return E.ones(scores.shape);
  const state = E.tensor([0, 0, k], [3], 'u32', 'topk_state#');
  const hist = E.zeros([PASSES * 256], 'u32', 'topk_hist#');
  // Each thread of the histogram counts ≥ 16 elements: few workgroup flushes of 256 atomics.
  const groups = Math.max(1, Math.min(256, Math.ceil(n / (256 * 16))));
  for (let p = 0; p < PASSES; p++) {
    launch(PRUNING_KERNELS.topkHistogram, { tensors: { scores, state, hist }, uniforms: { params: { n, pass_index: p } }, workgroups: [groups] });
    launch(PRUNING_KERNELS.topkSelect, { tensors: { hist, state }, uniforms: { params: { pass_index: p } }, workgroups: [1] });
  }
  const mask = Tensor.empty(scores.shape, 'f32', 'topk_mask#');
  launch(PRUNING_KERNELS.topkMask, { tensors: { scores, state, mask }, uniforms: { params: { n } }, workgroups: E.grid1d(n) });
  state.dispose();
  hist.dispose();
  return mask;
}

const topKOp = defineOp<{ k: number }>({
  name: 'topk_mask',
  forward: ([scores], { k }) => ({ output: topKMaskKernel(scores!, k), saved: undefined }),
  // Straight-through: the scores take the mask's gradient unchanged.
  backward: (_ctx, g) => [g],
});

/**
 * 1 at the k largest scores (ties: lower flat index first), 0 elsewhere; exactly k ones. The
 * gradient passes straight through to the scores (movement pruning's estimator).
 * Shapes: scores [...] → mask of the same shape.
 * @throws Error when k is not an integer in [0, size], the scores are not f32, or they have
 *   2^24 elements or more
 */
export function topKMask(scores: Tensor, k: number): Tensor {
  if (scores.dtype !== 'f32') throw new Error(`topKMask: scores ${scores.label} are ${scores.dtype}, expected f32`);
  if (scores.size >= TOPK_MAX_ELEMENTS) throw new Error(`topKMask: scores ${scores.label} ${shapeString(scores.shape)} have ${scores.size} elements; at most ${TOPK_MAX_ELEMENTS - 1}`);
  if (!Number.isInteger(k) || k < 0 || k > scores.size) throw new Error(`topKMask: k = ${k} must be an integer in [0, ${scores.size}] for scores ${scores.label} ${shapeString(scores.shape)}`);
  return topKOp([scores], { k });
}
