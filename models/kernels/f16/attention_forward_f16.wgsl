// Multi-head attention forward for f16 inference (models/ops/f16_inference.ts, attentionF16):
//   O[b, i, h·D + c] = z_h · Σ_j softmax_j(q_i·k_j / √D + mask_b[j]) v_j[c]
// q, k, v and O in f16 storage and in the projection layout [B, S, heads·D] (as attention_forward.wgsl);
// mask and head_z in f32. Scores, the online softmax (running max m and Σ exp l) and the output
// accumulator are f32: f16 only holds what is read and written. No dropout, no softmax statistics
// (no backward pass in f16).
//
// Design: attention_forward.wgsl's (one query row per thread, 64 rows per workgroup, keys and values
// staged BK at a time in workgroup memory as f32 vec4s, widened exactly from f16 as they are
// loaded), so f16 and f32 rows of `bench speedup` compare storage precision, not two tilings.
enable f16;

const D = {{D}}u;
const DV = {{DV}}u; // ⌈D/4⌉: a row is DV vec4s, zero past D
const BK = {{BK}}u;
const BQ = 64u;

struct Params { S: u32, heads: u32, scale: f32, has_mask: u32, has_z: u32 }
@group(0) @binding(0) var<storage, read> q: array<f16>;
@group(0) @binding(1) var<storage, read> k: array<f16>;
@group(0) @binding(2) var<storage, read> v: array<f16>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> headz: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f16>;
@group(0) @binding(6) var<uniform> params: Params;

var<workgroup> k_tile: array<vec4<f32>, {{KV}}>; // [BK][DV]
var<workgroup> v_tile: array<vec4<f32>, {{KV}}>; // [BK][DV]
var<workgroup> mask_tile: array<f32, BK>;

// Elements 4·c4 .. 4·c4 + 3 of the q, k or v row at `base`, widened to f32 (0 past D). (Three
// functions: a pointer to a storage array is no function parameter in core WGSL.)
fn q4(base: u32, c4: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var e = 0u; e < 4u; e++) {
    if (4u * c4 + e < D) { r[e] = f32(q[base + 4u * c4 + e]); }
  }
  return r;
}
fn k4(base: u32, c4: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var e = 0u; e < 4u; e++) {
    if (4u * c4 + e < D) { r[e] = f32(k[base + 4u * c4 + e]); }
  }
  return r;
}
fn v4(base: u32, c4: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var e = 0u; e < 4u; e++) {
    if (4u * c4 + e < D) { r[e] = f32(v[base + 4u * c4 + e]); }
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
  let o_base = (b * S + row) * HD + head * D;

  var z = 1.0;
  if (params.has_z != 0u) {
    z = headz[head];
  }
  if (z == 0.0) {
    if (live) {
      for (var c = 0u; c < D; c++) {
        out[o_base + c] = f16(0.0);
      }
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

  for (var j0 = 0u; j0 < S; j0 += BK) {
    for (var e = li; e < BK * DV; e += BQ) {
      let jj = e / DV;
      var kv = vec4<f32>(0.0);
      var vv = vec4<f32>(0.0);
      if (j0 + jj < S) {
        let at = (b * S + j0 + jj) * HD + head * D;
        kv = k4(at, e % DV);
        vv = v4(at, e % DV);
      }
      k_tile[e] = kv;
      v_tile[e] = vv;
    }
    if (params.has_mask != 0u) {
      for (var e = li; e < BK; e += BQ) {
        mask_tile[e] = select(0.0, mask[b * S + j0 + e], j0 + e < S);
      }
    }
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
        for (var c4 = 0u; c4 < DV; c4++) {
          acc[c4] = fma(vec4<f32>(e), v_tile[jj * DV + c4], acc[c4]);
        }
      }
    }
    workgroupBarrier();
  }

  if (live) {
    let f = z / l;
    for (var c4 = 0u; c4 < DV; c4++) {
      let o = acc[c4] * f;
      for (var e = 0u; e < 4u; e++) {
        if (4u * c4 + e < D) { out[o_base + 4u * c4 + e] = f16(o[e]); }
      }
    }
  }
}
