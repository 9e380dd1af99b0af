// Fused masked attention, backward part 2 (models/ops/masked_attention.ts): per key row j of (b, h)
//   dv_j = Σ_i P_ij M_ij dC_i
//   dk_j = (1/√D) Σ_i dS_ij q_i,   dS_ij = P_ij (M_ij (dC_i · v_j) − Δ_i)
// with dC = z dO, P_ij = exp(s_ij − m_i) / l_i recomputed from the forward statistics, Δ from
// part 1 (attention_backward_dq.wgsl), and M_ij the dropout multiplier of the forward pass.
//
// Design: grid (⌈S/64⌉, heads, B); a workgroup of 64 threads takes 64 key rows of one (b, h), one
// row per thread, with k_j, v_j, dk_j, dv_j in registers (4·⌈D/4⌉ vec4s). Query rows stream
// through workgroup memory BQT at a time as vec4s (q/√D and dC: 2·BQT·⌈D/4⌉ ≤ 512 vec4s, plus
// m, 1/l, Δ); with dropout the workgroup also fills a BQT × 64 tile of multipliers
// cooperatively, one Philox block per four consecutive keys of a query row (threads own keys, so
// a thread-private cache would draw one block per element).
// Cost per (b, h): 8·S²·D flops (s, dC·v, dv, dk), S² exp, S²/4 Philox blocks with dropout;
// global reads 2·S·D + 2·S·D·⌈S/64⌉ + 3·S·⌈S/64⌉; writes 2·S·D. With part 1 the backward pass
// costs about 3.5× the forward flops: QKᵀ is recomputed in both parts instead of accumulating dq
// with atomics (WebGPU has no float atomics; this also keeps it deterministic).
// Registers: 4·D floats per thread (256 at D = 64) is the design's weak point on real GPUs
// (occupancy, or spills); splitting a row's D over 2–4 threads is the next step there.
// A head with z = 0 writes zeros and returns before loading anything.
#include "lib/philox.wgsl"
#include "lib/attention_rows.wgsl"

const BQT = {{BQT}}u;
const BKV = 64u;
// Philox blocks that 64 consecutive keys of one row can touch.
const BLOCKS_PER_ROW = 17u;

// Flags are uniforms, not pipeline overrides: a uniform branch costs next to nothing, and every
// pipeline variant is one more shader compile (seconds each on lavapipe).
struct Params { S: u32, heads: u32, scale: f32, p: f32, keep_scale: f32, has_mask: u32, has_z: u32, dropout: u32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> headz: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read> stats: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dk: array<f32>;
@group(0) @binding(9) var<storage, read_write> dv: array<f32>;
@group(0) @binding(10) var<uniform> params: Params;

var<workgroup> q_tile: array<vec4<f32>, {{QT}}>;  // [BQT][DV], q/√D
var<workgroup> dc_tile: array<vec4<f32>, {{QT}}>; // [BQT][DV], z dO
var<workgroup> m_tile: array<f32, BQT>;
var<workgroup> il_tile: array<f32, BQT>;
var<workgroup> delta_tile: array<f32, BQT>;
var<workgroup> drop_tile: array<f32, {{DT}}>; // [BQT][64]

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
  let j_base = wid.x * BKV;
  let col = j_base + li;
  let live = col < S;
  let bh = b * params.heads + head;
  let kv_base = (b * S + col) * HD + head * D;

  var z = 1.0;
  if (params.has_z != 0u) {
    z = headz[head];
  }
  if (z == 0.0) {
    if (live) {
      for (var c = 0u; c < D; c++) {
        dk[kv_base + c] = 0.0;
        dv[kv_base + c] = 0.0;
      }
    }
    return;
  }

  var kr: array<vec4<f32>, DV>;
  var vr: array<vec4<f32>, DV>;
  var gk: array<vec4<f32>, DV>;
  var gv: array<vec4<f32>, DV>;
  var mask_j = 0.0;
  if (live) {
    for (var c4 = 0u; c4 < DV; c4++) {
      kr[c4] = k4(kv_base, c4);
      vr[c4] = v4(kv_base, c4);
    }
    if (params.has_mask != 0u) {
      mask_j = mask[b * S + col];
    }
  }
  let j_end = min(j_base + BKV, S);

  for (var i0 = 0u; i0 < S; i0 += BQT) {
    for (var e = li; e < BQT * DV; e += BKV) {
      let r = e / DV;
      var qv = vec4<f32>(0.0);
      var gv0 = vec4<f32>(0.0);
      if (i0 + r < S) {
        let at = (b * S + i0 + r) * HD + head * D;
        qv = q4(at, e % DV) * params.scale;
        gv0 = dout4(at, e % DV) * z;
      }
      q_tile[e] = qv;
      dc_tile[e] = gv0;
    }
    for (var r = li; r < BQT; r += BKV) {
      var mv = 0.0;
      var il = 0.0;
      var dl = 0.0;
      if (i0 + r < S) {
        let st = bh * S + i0 + r;
        mv = stats[2u * st];
        il = 1.0 / stats[2u * st + 1u];
        dl = delta[st];
      }
      m_tile[r] = mv;
      il_tile[r] = il;
      delta_tile[r] = dl;
    }
    if (params.dropout != 0u) {
      for (var job = li; job < BQT * BLOCKS_PER_ROW; job += BKV) {
        let r = job / BLOCKS_PER_ROW;
        if (i0 + r >= S) {
          continue;
        }
        let row_base = (bh * S + i0 + r) * S;
        let f_lo = row_base + j_base;
        let f_hi = row_base + j_end; // exclusive
        let blk = f_lo / 4u + job % BLOCKS_PER_ROW;
        if (blk * 4u >= f_hi) {
          continue;
        }
        let rnd = philox4x32(vec4<u32>(blk, 0u, 0u, 0u), params.key);
        for (var lane = 0u; lane < 4u; lane++) {
          let f = blk * 4u + lane;
          if (f >= f_lo && f < f_hi) {
            drop_tile[r * BKV + (f - f_lo)] = select(0.0, params.keep_scale, u01(rnd[lane]) >= params.p);
          }
        }
      }
    }
    workgroupBarrier();
    if (live) {
      let n = min(BQT, S - i0);
      for (var r = 0u; r < n; r++) {
        var s4 = vec4<f32>(0.0);
        var p4 = vec4<f32>(0.0);
        for (var c4 = 0u; c4 < DV; c4++) {
          s4 = fma(q_tile[r * DV + c4], kr[c4], s4);
          p4 = fma(dc_tile[r * DV + c4], vr[c4], p4);
        }
        let s = (s4.x + s4.y) + (s4.z + s4.w) + mask_j;
        var dp = (p4.x + p4.y) + (p4.z + p4.w);
        let pr = exp(s - m_tile[r]) * il_tile[r];
        var pd = pr;
        if (params.dropout != 0u) {
          let mult = drop_tile[r * BKV + li];
          pd = pr * mult;
          dp = dp * mult;
        }
        let ds = pr * (dp - delta_tile[r]);
        for (var c4 = 0u; c4 < DV; c4++) {
          gv[c4] = fma(vec4<f32>(pd), dc_tile[r * DV + c4], gv[c4]);
          gk[c4] = fma(vec4<f32>(ds), q_tile[r * DV + c4], gk[c4]);
        }
      }
    }
    workgroupBarrier();
  }

  if (live) {
    for (var c4 = 0u; c4 < DV; c4++) {
      for (var t = 0u; t < 4u; t++) {
        if (4u * c4 + t < D) {
          dk[kv_base + 4u * c4 + t] = gk[c4][t];
          dv[kv_base + 4u * c4 + t] = gv[c4][t];
        }
      }
    }
  }
}
