/**
 * The fused masked attention (masked_attention.ts) on CPU adapters: the same function and gradients,
 * computed as strided GEMMs (engine/ops/gemm_cpu.ts) around the engine's CPU softmax and dropout,
 * with each head of the [B, S, heads·d] projections addressed in place (no permute copies).
 *
 * Why not a fused kernel on a CPU driver: a fused attention keeps a query row, its output and the
 * streamed key/value rows in registers; on lavapipe those live ranges (4·d floats per lane and more)
 * make one pipeline take tens of seconds to compile and still spill, and its per-key softmax
 * bookkeeping costs per-lane loads. As products, attention runs on the tuned register tiles of the
 * GEMM kernel (the same compiled pipelines as every Linear layer), and the S×S probabilities, which
 * are small at BERT lengths (B·heads·S² floats: 0.5 MB per layer at B = 16, 2 heads, S = 64), are
 * materialised once and kept for the backward pass instead of the softmax statistics.
 *
 *   forward:  P = softmax(Q_h K_hᵀ/√d + mask_b);  O_h = z_h · dropout(P) V_h
 *   backward: dP̃ = z_h dO_h V_hᵀ;  dP = dropout'(dP̃);  dS = P ⊙ (dP − Σ_j dP ⊙ P);
 *             dQ_h = dS K_h/√d;  dK_h = dSᵀ Q_h/√d;  dV_h = z_h dropout(P)ᵀ dO_h;
 *             dz_h = Σ dO_h ⊙ O_h / z_h (0 where z_h = 0)
 * Dropout uses E.dropout's numbering over the probabilities [B, heads, S, S] with the op's key, as
 * the GPU kernels do. Heads with z = 0 are gated out of every product: their outputs and gradients
 * are exactly 0 and cost nothing.
 */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { type BatchStrides, launchCpuGemm } from '../../engine/ops/gemm_cpu.ts';
import { K } from '../../engine/kernels/index.ts';

/** Shapes and options of one attention call (masked_attention.ts's attributes). */
export interface CpuAttentionShape {
  B: number;
  S: number;
  heads: number;
  d: number;
  /** Dropout probability in effect (0: none) and its Philox key. */
  p: number;
  key: [number, number];
}

interface Views {
  /** A head of a [B, S, heads·d] tensor: rows heads·d apart, batch entry (b, h) at b·S·heads·d + h·d. */
  proj: BatchStrides;
  /** A [B·heads, S, S] tensor of probabilities. */
  probs: BatchStrides;
  HD: number;
  batch: [number, number];
  scale: number;
}

function views(s: CpuAttentionShape): Views {
  const HD = s.heads * s.d;
  return {
    proj: { outer: s.S * HD, inner: s.d },
    probs: { outer: s.heads * s.S * s.S, inner: s.S * s.S },
    HD,
    batch: [s.B, s.heads],
    scale: 1 / Math.sqrt(s.d),
  };
}

/** softmax(x + mask_b) over the last axis of [B·heads·S, S] rows (softmax_cpu.wgsl, mask [B, S] broadcast over heads and queries). */
function softmaxRows(scores: Tensor, mask: Tensor | null, s: CpuAttentionShape): Tensor {
  const probs = E.Tensor.empty(scores.shape, 'f32', 'attention_probs#');
  const rows = s.B * s.heads * s.S;
  const pack = (v: number[]) => [...v, ...new Array<number>(8 - v.length).fill(0)];
  E.launch(K.softmaxCpu, {
    constants: { LOG: 0, HAS_MASK: mask ? 1 : 0 },
    tensors: { x: scores, mask, y: probs },
    uniforms: { params: { rows, cols: s.S, lead_rank: 3, mask_cols: s.S, lead_shape: pack([s.B, s.heads, s.S]), mask_strides: pack([s.S, 0, 0]) } },
    workgroups: E.grid1d(rows, 64),
  });
  return probs;
}

/** dropout(x) with the attention's key over all B·heads·S² probabilities (dropout_cpu.wgsl), or x itself without dropout. */
function dropProbs(x: Tensor, s: CpuAttentionShape): Tensor {
  if (s.p === 0) return x;
  const y = E.Tensor.empty(x.shape, 'f32', 'attention_dropped#');
  E.launch(K.dropoutCpu, {
    tensors: { x, y },
    uniforms: { params: { n: x.size, p: s.p, scale: 1 / (1 - s.p), key: [...s.key] } },
    workgroups: E.vec4Grid(x.size),
  });
  return y;
}

/**
 * Forward: the context [B, S, heads·d] and the probabilities P [B·heads, S, S] (saved for the
 * backward pass). q, k, v are [B, S, heads·d]; mask [B, S] additive or null; headZ [heads] or null.
 */
export function attentionCpuForward(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, headZ: Tensor | null, s: CpuAttentionShape): { out: Tensor; probs: Tensor } {
  const w = views(s);
  const scores = E.Tensor.empty([s.B * s.heads, s.S, s.S], 'f32', 'attention_scores#');
  launchCpuGemm({ a: q, b: k, c: scores, M: s.S, N: s.S, K: s.d, transB: true, lda: w.HD, ldb: w.HD, ldc: s.S, batch: w.batch, strideA: w.proj, strideB: w.proj, strideC: w.probs, scale: w.scale, alpha: headZ, alphaGate: true });
  const probs = softmaxRows(scores, mask, s);
  scores.dispose();
  const dropped = dropProbs(probs, s);
  const out = E.Tensor.empty(q.shape, 'f32', 'attention#');
  launchCpuGemm({ a: dropped, b: v, c: out, M: s.S, N: s.d, K: s.S, lda: s.S, ldb: w.HD, ldc: w.HD, batch: w.batch, strideA: w.probs, strideB: w.proj, strideC: w.proj, alpha: headZ });
  if (dropped !== probs) dropped.dispose();
  return { out, probs };
}

/**
 * Backward from dO [B, S, heads·d]: gradients of q, k, v (each null when not required) and of
 * headZ (when it requires one). `out` is the forward output, `probs` its saved P.
 */
export function attentionCpuBackward(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  headZ: Tensor | null,
  out: Tensor,
  probs: Tensor,
  g: Tensor,
  s: CpuAttentionShape,
): { dq: Tensor | null; dk: Tensor | null; dv: Tensor | null; dz: Tensor | null } {
  const w = views(s);
  const common = { batch: w.batch, alpha: headZ };
  let dq: Tensor | null = null;
  let dk: Tensor | null = null;
  let dv: Tensor | null = null;
  if (q.requiresGrad || k.requiresGrad) {
    // dP̃ = z dO Vᵀ, dP = dropout'(dP̃), dS = softmax'(P)·dP.
    const dDropped = E.Tensor.empty(probs.shape, 'f32', 'attention_dprobs#');
    launchCpuGemm({ ...common, a: g, b: v, c: dDropped, M: s.S, N: s.S, K: s.d, transB: true, lda: w.HD, ldb: w.HD, ldc: s.S, strideA: w.proj, strideB: w.proj, strideC: w.probs });
    const dProbs = dropProbs(dDropped, s);
    if (dProbs !== dDropped) dDropped.dispose();
    const dScores = E.Tensor.empty(probs.shape, 'f32', 'attention_dscores#');
    const rows = s.B * s.heads * s.S;
    E.launch(K.softmaxBackwardCpu, { constants: { LOG: 0 }, tensors: { y: probs, dy: dProbs, dx: dScores }, uniforms: { params: { rows, cols: s.S } }, workgroups: E.grid1d(rows, 64) });
    dProbs.dispose();
    const gated = { ...common, alphaGate: true, scale: w.scale };
    if (q.requiresGrad) {
      dq = E.Tensor.empty(q.shape, 'f32', 'attention_dq#');
      launchCpuGemm({ ...gated, a: dScores, b: k, c: dq, M: s.S, N: s.d, K: s.S, lda: s.S, ldb: w.HD, ldc: w.HD, strideA: w.probs, strideB: w.proj, strideC: w.proj });
    }
    if (k.requiresGrad) {
      dk = E.Tensor.empty(k.shape, 'f32', 'attention_dk#');
      launchCpuGemm({ ...gated, a: dScores, b: q, c: dk, M: s.S, N: s.d, K: s.S, transA: true, lda: s.S, ldb: w.HD, ldc: w.HD, strideA: w.probs, strideB: w.proj, strideC: w.proj });
    }
    dScores.dispose();
  }
  if (v.requiresGrad) {
    // dV = z dropout(P)ᵀ dO (the mask regenerated from the key).
    const dropped = dropProbs(probs, s);
    dv = E.Tensor.empty(v.shape, 'f32', 'attention_dv#');
    launchCpuGemm({ ...common, a: dropped, b: g, c: dv, M: s.S, N: s.d, K: s.S, transA: true, lda: s.S, ldb: w.HD, ldc: w.HD, strideA: w.probs, strideB: w.proj, strideC: w.proj });
    if (dropped !== probs) dropped.dispose();
  }
  let dz: Tensor | null = null;
  if (headZ?.requiresGrad) {
    // dz_h = Σ dO ⊙ O / z_h over batch, positions and the head's columns; 0 where z_h = 0 (see maskedAttention).
    const shape4 = [s.B, s.S, s.heads, s.d];
    dz = E.tidy(() => {
      const terms = E.sum(E.mul(g.view(shape4), out.view(shape4)), [0, 1, 3]);
      return E.where(E.eq(headZ, E.zeros([1])), E.zeros([1]), E.div(terms, headZ));
    });
  }
  return { dq, dk, dv, dz };
}
