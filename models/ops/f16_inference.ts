/**
 * BERT's fused ops in f16 inference: the routes maskedAttention and maskedFfn take when their
 * inputs are f16 (f16 storage, f32 arithmetic; engine/ops/f16.ts gives the precision model).
 * Inference only: no dropout, no gradients, no intermediate_z (a compacted model has none).
 */
import { Tensor, launch, matmulF16, shapeString } from '../../engine/index.ts';
import { BERT_KERNELS } from '../kernels/index.ts';
import type { MaskedAttentionOptions } from './masked_attention.ts';

/** Tile sizes of attention_forward_f16.wgsl for head size d (as the f32 kernel's: ≤ 8 KiB per K/V tile). */
function tiles(d: number): { DV: number; BK: number } {
  const DV = Math.ceil(d / 4);
  return { DV, BK: Math.max(1, Math.min(64, Math.floor(256 / DV))) };
}

/**
 * softmax(q_h k_hᵀ/√d + mask)·v_h ⊙ headZ[h] per head with q, k, v and the result in f16, the
 * mask and headZ in f32 (attention_forward_f16.wgsl). Shapes as maskedAttention: q, k, v
 * [B, S, h·d] → [B, S, h·d]. Dropout must be inactive (inference).
 * @throws Error when q, k, v are not f16 of one shape, the mask or headZ not f32 of their shapes,
 *   heads do not divide the width, d exceeds 1024, or dropout is active
 */
export function attentionF16(q: Tensor, k: Tensor, v: Tensor, options: MaskedAttentionOptions): Tensor {
  const fail = (why: string) => new Error(`maskedAttention (f16): ${why}`);
  const { heads, mask, headZ } = options;
  if (options.training && options.dropout > 0) throw fail('dropout in training mode: f16 is for inference only');
  if (q.shape.length !== 3) throw fail(`q ${q.label} ${shapeString(q.shape)} is not [B, S, heads·d]`);
  for (const t of [q, k, v]) {
    if (t.dtype !== 'f16') throw fail(`${t.label} is ${t.dtype}, expected f16`);
    if (t.shape.some((n, i) => n !== q.shape[i]) || t.shape.length !== 3) throw fail(`${t.label} ${shapeString(t.shape)} differs from q ${shapeString(q.shape)}`);
  }
  const [B, S, HD] = q.shape as [number, number, number];
  if (!(Number.isInteger(heads) && heads > 0 && HD % heads === 0)) throw fail(`${heads} heads do not divide the width ${HD}`);
  const d = HD / heads;
  if (d > 1024) throw fail(`head size ${d} exceeds 1024`);
  if (mask && (mask.dtype !== 'f32' || mask.size !== B * S || mask.shape[0] !== B)) throw fail(`mask ${mask.label} ${shapeString(mask.shape)} ${mask.dtype} is not f32 [B, S] = [${B}, ${S}]`);
  if (headZ && (headZ.dtype !== 'f32' || headZ.shape.length !== 1 || headZ.shape[0] !== heads)) throw fail(`headZ ${headZ.label} ${shapeString(headZ.shape)} is not f32 [${heads}]`);
  const { DV, BK } = tiles(d);
  const out = Tensor.empty(q.shape, 'f16', 'attention_f16#');
  launch(BERT_KERNELS.attentionForwardF16, {
    defines: { D: d, DV, BK, KV: BK * DV },
    tensors: { q, k, v, mask: mask ?? null, headz: headZ ?? null, out },
    uniforms: { params: { S, heads, scale: 1 / Math.sqrt(d), has_mask: mask ? 1 : 0, has_z: headZ ? 1 : 0 } },
    workgroups: [Math.ceil(S / 64), heads, B],
  });
  return out;
}

/**
 * gelu(x·w1ᵀ + b1)·w2ᵀ + b2 with x, w1, w2 and the result in f16 and b1, b2 in f32: two f16 GEMMs,
 * GELU fused into the first one's epilogue (matmul_f16.wgsl). Shapes: x [..., H], w1 [I, H],
 * w2 [H, I] → [..., H].
 * @throws Error for an intermediate_z (not supported in f16: compact the model), or the GEMMs' shape and dtype errors
 */
export function ffnF16(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, z: Tensor | null): Tensor {
  if (z) throw new Error('maskedFfn (f16): intermediate_z is not supported in f16 inference; compact the model first');
  const h = matmulF16(x, w1, { transB: true, bias: b1, activation: 'gelu' });
  const y = matmulF16(h, w2, { transB: true, bias: b2 });
  h.dispose();
  return y;
}
