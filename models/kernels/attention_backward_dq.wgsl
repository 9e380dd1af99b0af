// Fused masked attention, backward part 1 (models/ops/masked_attention.ts): per query row i of (b, h)
//   Δ_i  = Σ_c dO_ic · O_ic                     (= dC_i · C_i for the context C = O / z, dC = z dO)
//   dq_i = (1/√D) Σ_j dS_ij k_j,  dS_ij = P_ij (M_ij (dC_i · v_j) − Δ_i)
// with P_ij = exp(s_ij − m_i) / l_i recomputed from the forward statistics, and M_ij the dropout
// multiplier (1/(1 − p) where kept, 0 where dropped; 1 without dropout), regenerated from the same
// Philox numbering as the forward pass. Writes Δ (delta[(b·heads + h)·S + i]) for part 2 and for
// the head-z gradient; dq only when compute_dq.
//
// Design: the forward kernel's layout (grid (⌈S/64⌉, heads, B), one query row per thread, K/V
// tiles of BK rows in workgroup memory, rows as ⌈D/4⌉ vec4s), with 3·⌈D/4⌉ vec4 registers per
// thread (q_i/√D, dC_i, dq_i). Cost per (b, h): 6·S²·D flops (s, dC·v, dq), S² exp, S²/4 Philox
// blocks with dropout; global reads 3·S·D + 2·S·D·⌈S/64⌉. A head with z = 0 writes zeros and
// returns.
#include "lib/philox.wgsl"
#include "lib/attention_rows.wgsl"
#include "lib/attention_kv_tiles.wgsl"


// Flags are uniforms, not pipeline overrides: a uniform branch costs next to nothing, and every
// pipeline variant is one more shader compile (seconds each on lavapipe).
struct Params { S: u32, heads: u32, scale: f32, p: f32, keep_scale: f32, has_mask: u32, has_z: u32, dropout: u32, compute_dq: u32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> headz: array<f32>;
@group(0) @binding(5) var<storage, read> out: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<f32>;
@group(0) @binding(7) var<storage, read> stats: array<f32>;
@group(0) @binding(8) var<storage, read_write> delta: array<f32>;
@group(0) @binding(9) var<storage, read_write> dq: array<f32>;
@group(0) @binding(10) var<uniform> params: Params;


fn out4(base: u32, c4: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    if (4u * c4 + t < D) { r[t] = out[base + 4u * c4 + t]; }
  }
  return r;
}
fn dout4(base: u32, c4: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    if (4u * c4 + t < D) { r[t] = dout[base + 4u * c4 + t]; }
  }
  return r;
}

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
  let stat = bh * S + row;

  var z = 1.0;
  if (params.has_z != 0u) {
    z = headz[head];
  }
  if (z == 0.0) {
    if (live) {
      delta[stat] = 0.0;
      if (params.compute_dq != 0u) {
        for (var c = 0u; c < D; c++) {
          dq[o_base + c] = 0.0;
        }
      }
    }
    return;
  }

  var qr: array<vec4<f32>, DV>;
  var dc: array<vec4<f32>, DV>;
  var g: array<vec4<f32>, DV>;
  var dlt = 0.0;
  var m = 0.0;
  var inv_l = 0.0;
  if (live) {
    var d4 = vec4<f32>(0.0);
    for (var c4 = 0u; c4 < DV; c4++) {
      qr[c4] = q4(o_base, c4) * params.scale;
      let go = dout4(o_base, c4);
      dc[c4] = go * z;
      d4 = fma(go, out4(o_base, c4), d4);
    }
    dlt = (d4.x + d4.y) + (d4.z + d4.w);
    delta[stat] = dlt;
    m = stats[2u * stat];
    inv_l = 1.0 / stats[2u * stat + 1u];
  }
  if (params.compute_dq == 0u) {
    return;
  }
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
        var p4 = vec4<f32>(0.0);
        for (var c4 = 0u; c4 < DV; c4++) {
          s4 = fma(qr[c4], k_tile[jj * DV + c4], s4);
          p4 = fma(dc[c4], v_tile[jj * DV + c4], p4);
        }
        var s = (s4.x + s4.y) + (s4.z + s4.w);
        var dp = (p4.x + p4.y) + (p4.z + p4.w);
        if (params.has_mask != 0u) {
          s += mask_tile[jj];
        }
        let pr = exp(s - m) * inv_l;
        if (params.dropout != 0u) {
          let idx = rng_row + j0 + jj;
          if (idx / 4u != rng_block) {
            rng_block = idx / 4u;
            rnd = philox4x32(vec4<u32>(rng_block, 0u, 0u, 0u), params.key);
          }
          dp = select(0.0, dp * params.keep_scale, u01(rnd[idx % 4u]) >= params.p);
        }
        let ds = pr * (dp - dlt);
        for (var c4 = 0u; c4 < DV; c4++) {
          g[c4] = fma(vec4<f32>(ds), k_tile[jj * DV + c4], g[c4]);
        }
      }
    }
    workgroupBarrier();
  }

  if (live) {
    for (var c4 = 0u; c4 < DV; c4++) {
      let o = g[c4] * params.scale;
      for (var t = 0u; t < 4u; t++) {
        if (4u * c4 + t < D) { dq[o_base + 4u * c4 + t] = o[t]; }
      }
    }
  }
}
