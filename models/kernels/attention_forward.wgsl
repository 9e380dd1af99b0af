// Fused masked multi-head attention, forward (models/ops/masked_attention.ts, maskedAttention):
//   O[b, i, h·D + c] = z_h · Σ_j dropout(softmax_j(q_i·k_j / √D + mask_b[j])) v_j[c]
// with q, k, v read in their projection layout [B, S, heads·D] (head h is columns h·D .. h·D + D)
// and O written in that layout: no permute copies. Also writes the softmax statistics of every
// row, stats[(b·heads + h)·S + i] = (m_i, l_i) (running max and Σ exp(s − m)), from which the
// backward pass recomputes P_ij = exp(s_ij − m_i) / l_i instead of storing the S×S matrix (the
// pair rather than the log-sum-exp m + log l: a fully masked row has m ≈ −3.4e38, where
// m + log l rounds back to m and the row's probabilities would come out as 1 instead of 1/S).
//
// Dropout drops P_ij where the Philox uniform of element ((b·heads + h)·S + i)·S + j under `key`
// is below p (exactly E.dropout's numbering over the probabilities [B, heads, S, S]), and scales
// the kept ones by 1/(1 − p). The normaliser l uses the undropped P.
//
// Design (FlashAttention-style, one pass over the keys with an online softmax):
//   grid (⌈S/64⌉, heads, B); a workgroup of 64 threads takes 64 query rows of one (b, h), one row
//   per thread, holding q_i/√D and its output accumulator in registers as ⌈D/4⌉ vec4s each (D is
//   a template constant, so the loops have constant trip counts and unroll, and the arrays stay
//   registers). Key/value rows are staged through workgroup memory BK at a time as vec4s
//   (BK·⌈D/4⌉ ≤ 256 vec4s: 8 KiB for K and V, within WebGPU's 16 KiB default), read as 128-bit
//   broadcasts by every thread. When a score exceeds the running max, the accumulator is
//   rescaled by exp(m_old − m_new); for a row this happens O(log S) times on average, so it is a
//   branch, not a per-tile pass. Dropout draws one Philox block per four consecutive keys of a
//   row (cached across the loop). A head whose z is exactly 0 writes zeros and returns before
//   loading anything.
// Cost model per (b, h): 4·S²·D flops (QKᵀ and PV), S² exp, S²/4 Philox blocks with dropout;
//   global reads S·D (Q) + 2·S·D·⌈S/64⌉ (K and V, once per query block), writes S·D + 2·S;
//   workgroup-memory reads: one broadcast vec4 per 4 FMAs, which bounds it on real GPUs (register
//   blocking of several rows per thread is the next step). Parallelism: B·heads·⌈S/64⌉
//   workgroups (BERT-base, B = 32, S = 128: 768 workgroups of 64 threads).
#include "lib/philox.wgsl"
#include "lib/attention_rows.wgsl"
#include "lib/attention_kv_tiles.wgsl"


// Flags are uniforms, not pipeline overrides: a uniform branch costs next to nothing, and every
// pipeline variant is one more shader compile (seconds each on lavapipe).
struct Params { S: u32, heads: u32, scale: f32, p: f32, keep_scale: f32, has_mask: u32, has_z: u32, dropout: u32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> headz: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;



@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let S = params.S;
  let HD = params.heads * D;
  let head = wid.y;
  let b = wid.z;
  let row = wid.x * BQ + li;
  let live = row < S;
  let bh = b * params.heads + head;
  let o_base = (b * S + row) * HD + head * D;
  let stat = (bh * S + row) * 2u;

  var z = 1.0;
  if (params.has_z != 0u) {
    z = headz[head];
  }
  if (z == 0.0) {
    if (live) {
      for (var c = 0u; c < D; c++) {
        out[o_base + c] = 0.0;
      }
      stats[stat] = 0.0;
      stats[stat + 1u] = 1.0;
    }
    return;
  }

  var qr: array<vec4<f32>, DV>;
  var acc: array<vec4<f32>, DV>;
  if (live) {
    for (var c4 = 0u; c4 < DV; c4++) {
      qr[c4] = q4(o_base, c4) * params.scale;
    }
  }
  var m = -3.4028234e38;
  var l = 0.0;
  let rng_row = (bh * S + row) * S;
  var rng_block = 0xffffffffu;
  var rnd = vec4<u32>(0u);

  for (var j0 = 0u; j0 < S; j0 += BK) {
    load_kv_tile(b, head, j0, S, HD, params.has_mask != 0u, li);
    workgroupBarrier();
    if (live) {
      let n = min(BK, S - j0);
      for (var jj = 0u; jj < n; jj++) {
        var s4 = vec4<f32>(0.0);
        for (var c4 = 0u; c4 < DV; c4++) {
          s4 = fma(qr[c4], k_tile[jj * DV + c4], s4);
        }
        var s = (s4.x + s4.y) + (s4.z + s4.w);
        if (params.has_mask != 0u) {
          s += mask_tile[jj];
        }
        if (s > m) {
          let alpha = exp(m - s);
          l *= alpha;
          for (var c4 = 0u; c4 < DV; c4++) {
            acc[c4] *= alpha;
          }
          m = s;
        }
        let e = exp(s - m);
        l += e;
        var w = e;
        if (params.dropout != 0u) {
          let idx = rng_row + j0 + jj;
          if (idx / 4u != rng_block) {
            rng_block = idx / 4u;
            rnd = philox4x32(vec4<u32>(rng_block, 0u, 0u, 0u), params.key);
          }
          w = select(0.0, e * params.keep_scale, u01(rnd[idx % 4u]) >= params.p);
        }
        for (var c4 = 0u; c4 < DV; c4++) {
          acc[c4] = fma(vec4<f32>(w), v_tile[jj * DV + c4], acc[c4]);
        }
      }
    }
    workgroupBarrier();
  }

  if (live) {
    let f = z / l;
    for (var c4 = 0u; c4 < DV; c4++) {
      let o = acc[c4] * f;
      for (var t = 0u; t < 4u; t++) {
        if (4u * c4 + t < D) { out[o_base + 4u * c4 + t] = o[t]; }
      }
    }
    stats[stat] = m;
    stats[stat + 1u] = l;
  }
}
