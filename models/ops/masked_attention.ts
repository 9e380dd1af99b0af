/**
 * Fused masked multi-head attention: the attention of a BERT layer between its Q/K/V projections
 * and its output projection, in one forward kernel and three backward kernels
 * (attention_forward.wgsl, attention_backward_dq.wgsl, attention_backward_dkv.wgsl,
 * attention_dz.wgsl; their headers give the tiling and cost model).
 *
 * Q, K, V are read and the context written in the projection layout [B, S, heads·d], so no head
 * permutes are materialised; the S×S probabilities exist neither in the forward nor the backward
 * pass (the backward pass recomputes them from per-row softmax statistics, FlashAttention-style).
 * Heads whose CoFi head_z is exactly 0 are skipped by every kernel: their output and their
 * gradients are exactly 0. On CPU adapters the same op runs as strided GEMMs around the CPU
 * softmax and dropout kernels (masked_attention_cpu.ts says why), keeping the probabilities
 * instead of the softmax statistics.
 */
import { defineOp, getEngine, launch, shapeString, Tensor } from '../../engine/index.ts';
import { BERT_KERNELS } from '../kernels/index.ts';
import { attentionCpuBackward, attentionCpuForward } from './masked_attention_cpu.ts';
import { attentionF16 } from './f16_inference.ts'; // f16 inference route

export interface MaskedAttentionOptions {
  /** Number of heads h; q, k, v are [B, S, h·d] (the projection outputs, heads side by side). */
  heads: number;
  /**
   * Additive key mask, B·S elements ([B, S] or [B, 1, 1, S]): 0 for tokens, a large negative
   * finite number (−3.4028234663852886e38) for padding. Takes no gradient.
   */
  mask?: Tensor;
  /** [h] CoFi head_z: multiplies each head's context. Heads with z exactly 0 are skipped. */
  headZ?: Tensor;
  /** Dropout probability of the attention probabilities. */
  dropout: number;
  /** Dropout is applied only when training. */
  training: boolean;
  /** Philox key of the dropout mask; default: the next key of the engine stream. */
  key?: [number, number];
}

interface Attrs {
  B: number;
  S: number;
  heads: number;
  d: number;
  /** Dropout probability in effect (0: none). */
  p: number;
  key: [number, number];
  /** Input positions of the mask and head_z (−1 when absent). */
  maskAt: number;
  zAt: number;
}

/**
 * Template values for head size d: rows of DV = ⌈d/4⌉ vec4s, and tile sizes that keep each
 * workgroup array within 8 KiB (WebGPU's default limit is 16 KiB in all).
 */
function tiles(d: number): { DV: number; BK: number; BQT: number } {
  const DV = Math.ceil(d / 4);
  return { DV, BK: Math.max(1, Math.min(64, Math.floor(256 / DV))), BQT: Math.max(1, Math.min(32, Math.floor(256 / DV))) };
}

function common(a: Attrs, inputs: readonly Tensor[]) {
  const mask = a.maskAt >= 0 ? inputs[a.maskAt]! : null;
  const headz = a.zAt >= 0 ? inputs[a.zAt]! : null;
  const dropout = a.p > 0;
  return {
    mask,
    headz,
    params: {
      S: a.S,
      heads: a.heads,
      scale: 1 / Math.sqrt(a.d),
      p: a.p,
      keep_scale: dropout ? 1 / (1 - a.p) : 1,
      has_mask: mask ? 1 : 0,
      has_z: headz ? 1 : 0,
      dropout: dropout ? 1 : 0,
      key: a.key,
    },
    workgroups: [Math.ceil(a.S / 64), a.heads, a.B] as [number, number, number],
  };
}

/** What the forward keeps for the backward pass: the GPU kernels' softmax statistics, or the CPU path's probabilities. */
type Saved = { stats: Tensor; probs?: undefined } | { probs: Tensor; stats?: undefined };

const attentionOp = defineOp<Attrs, Saved>({
  name: 'masked_attention',
  forward(inputs, a) {
    const [q, k, v] = inputs as [Tensor, Tensor, Tensor];
    const c = common(a, inputs);
    if (getEngine().cpuSubgroupKernels) {
      const { out, probs } = attentionCpuForward(q, k, v, c.mask, c.headz, a);
      return { output: out, saved: { probs } };
    }
    const { DV, BK } = tiles(a.d);
    const out = Tensor.empty(q.shape, 'f32', 'attention#');
    const stats = Tensor.empty([a.B * a.heads * a.S * 2], 'f32', 'attention_stats#');
    launch(BERT_KERNELS.attentionForward, {
      defines: { D: a.d, DV, BK, KV: BK * DV },
      tensors: { q, k, v, mask: c.mask, headz: c.headz, out, stats },
      uniforms: { params: c.params },
      workgroups: c.workgroups,
    });
    return { output: out, saved: { stats } };
  },
  backward({ inputs, output, attrs: a, saved }, g) {
    const [q, k, v] = inputs as [Tensor, Tensor, Tensor];
    const c = common(a, inputs);
    if (saved.probs) {
      const r = attentionCpuBackward(q, k, v, c.headz, output, saved.probs, g, a);
      const grads: (Tensor | null)[] = [r.dq, r.dk, r.dv];
      if (a.maskAt >= 0) grads.push(null);
      if (a.zAt >= 0) grads.push(r.dz);
      return grads;
    }
    const stats = saved.stats!;
    const { DV, BK, BQT } = tiles(a.d);
    const delta = Tensor.empty([a.B * a.heads * a.S], 'f32', 'attention_delta#');
    const dq = Tensor.empty(q.requiresGrad ? q.shape : [1], 'f32', 'attention_dq#');
    launch(BERT_KERNELS.attentionBackwardDq, {
      defines: { D: a.d, DV, BK, KV: BK * DV },
      tensors: { q, k, v, mask: c.mask, headz: c.headz, out: output, dout: g, stats, delta, dq },
      uniforms: { params: { ...c.params, compute_dq: q.requiresGrad ? 1 : 0 } },
      workgroups: c.workgroups,
    });
    let dk: Tensor | null = null;
    let dv: Tensor | null = null;
    if (k.requiresGrad || v.requiresGrad) {
      dk = Tensor.empty(k.shape, 'f32', 'attention_dk#');
      dv = Tensor.empty(v.shape, 'f32', 'attention_dv#');
      launch(BERT_KERNELS.attentionBackwardDkv, {
        defines: { D: a.d, DV, BQT, QT: BQT * DV, DT: BQT * 64 },
        tensors: { q, k, v, mask: c.mask, headz: c.headz, dout: g, stats, delta, dk, dv },
        uniforms: { params: c.params },
        workgroups: c.workgroups,
      });
      if (!k.requiresGrad) {
        dk.dispose();
        dk = null;
      }
      if (!v.requiresGrad) {
        dv.dispose();
        dv = null;
      }
    }
    let dz: Tensor | null = null;
    if (c.headz?.requiresGrad) {
      dz = Tensor.empty([a.heads], 'f32', 'attention_dz#');
      launch(BERT_KERNELS.attentionDz, {
        tensors: { delta, headz: c.headz, dz },
        uniforms: { params: { B: a.B, S: a.S, heads: a.heads } },
        workgroups: [a.heads],
      });
    }
    delta.dispose();
    const grads: (Tensor | null)[] = [q.requiresGrad ? dq : null, dk, dv];
    if (!q.requiresGrad) dq.dispose();
    if (a.maskAt >= 0) grads.push(null);
    if (a.zAt >= 0) grads.push(dz);
    return grads;
  },
});

/**
 * Multi-head self-attention between projections, fused: for each batch b and head h,
 * softmax(q_h k_hᵀ/√d + mask_b) → dropout → · v_h → ⊙ headZ[h], heads merged back into
 * [B, S, h·d]. Equals the unfused reshape/permute/matmul/softmax/dropout/matmul/mul/permute
 * composition; dropout uses E.dropout's element numbering over the probabilities [B, h, S, S],
 * so with the same key both drop the same elements.
 *
 * Gradients flow to q, k, v and headZ. For a head with z = 0 the output and the q/k/v gradients
 * are exactly 0 (as in the unfused composition) and dheadZ is 0, not Σ dO ⊙ context: z = 0 is
 * where a hard-concrete sample is clamped, whose derivative with respect to log_alpha is 0, so
 * this value never reaches a parameter, and skipping the head's work is what the kernels are for.
 *
 * A dropout key is drawn from the engine stream only when dropout is active (training and
 * 0 < p < 1), as E.dropout does.
 * @throws Error when shapes disagree, d exceeds 1024, or p is outside [0, 1]
 */
export function maskedAttention(q: Tensor, k: Tensor, v: Tensor, options: MaskedAttentionOptions): Tensor {
  if (q.dtype === 'f16') return attentionF16(q, k, v, options); // f16 inference (models/ops/f16_inference.ts)
  const { heads, mask, headZ } = options;
  const fail = (why: string) => new Error(`maskedAttention: ${why}`);
  if (q.shape.length !== 3) throw fail(`q ${q.label} ${shapeString(q.shape)} is not [B, S, heads·d]`);
  for (const t of [q, k, v, ...(mask ? [mask] : []), ...(headZ ? [headZ] : [])]) {
    if (t.dtype !== 'f32') throw fail(`${t.label} is ${t.dtype}, expected f32`);
  }
  for (const t of [k, v]) {
    if (t.shape.length !== 3 || t.shape.some((n, i) => n !== q.shape[i])) throw fail(`${t.label} ${shapeString(t.shape)} differs from q ${shapeString(q.shape)}`);
  }
  const [B, S, HD] = q.shape as [number, number, number];
  if (!(Number.isInteger(heads) && heads > 0 && HD % heads === 0)) throw fail(`${heads} heads do not divide the width ${HD}`);
  const d = HD / heads;
  if (d > 1024) throw fail(`head size ${d} exceeds 1024`);
  if (mask && (mask.size !== B * S || mask.shape[0] !== B || mask.shape[mask.shape.length - 1] !== S)) {
    throw fail(`mask ${mask.label} ${shapeString(mask.shape)} is not [B, S] = [${B}, ${S}]`);
  }
  if (headZ && (headZ.shape.length !== 1 || headZ.shape[0] !== heads)) throw fail(`headZ ${headZ.label} ${shapeString(headZ.shape)} is not [${heads}]`);
  const p = options.dropout;
  if (!(p >= 0 && p <= 1)) throw fail(`dropout p = ${p} is outside [0, 1]`);
  const active = options.training && p > 0;
  const key: [number, number] = active ? (options.key ?? (p < 1 ? getEngine().nextRandomKey() : [0, 0])) : [0, 0];
  const inputs = [q, k, v];
  let maskAt = -1;
  let zAt = -1;
  if (mask) maskAt = inputs.push(mask) - 1;
  if (headZ) zAt = inputs.push(headZ) - 1;
  return attentionOp(inputs, { B, S, heads, d, p: active ? p : 0, key, maskAt, zAt });
}
