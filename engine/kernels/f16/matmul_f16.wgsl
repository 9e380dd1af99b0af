// f16 GEMM for inference: c[b] = act(op(a[b]) · op(b[b]) + bias), a, b and c in f16 storage, bias in
// f32, products accumulated in f32 (engine/ops/f16.ts matmulF16). Layout and batching as matmul.wgsl;
// ACT fuses the activation that follows a Linear in a transformer (0 none, 1 GELU erf form, 2 tanh) into the
// epilogue, so the f32 accumulator is rounded to f16 once, after it.
// Tiling: lib/gemm_tile.wgsl (64×64 tile per 8×8 workgroup, K slices of 32 in f32 workgroup memory).
// Each f16 operand is widened exactly to f32 as it is staged, so the inner loop is matmul.wgsl's:
// f16 halves the bytes read from global memory (the bound of memory-limited GEMMs: small M, or
// N·K weights streamed once), not the arithmetic, and the error is that of f32 accumulation plus
// one f16 rounding of the result.
enable f16;
#include "lib/gemm_tile.wgsl"
#include "lib/math.wgsl"

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
override ACT: u32 = 0u;

struct Params { M: u32, N: u32, K: u32, stride_a: u32, stride_b: u32, stride_c: u32 }
@group(0) @binding(0) var<storage, read> a: array<f16>;
@group(0) @binding(1) var<storage, read> b: array<f16>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f16>;
@group(0) @binding(4) var<uniform> params: Params;

fn activate(v: f32) -> f32 {
  switch ACT {
    case 1u: { return gelu(v); }
    case 2u: { return tanh_safe(v); }
    default: { return v; }
  }
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let a_base = wid.z * params.stride_a;
  let b_base = wid.z * params.stride_b;
  let c_base = wid.z * params.stride_c;

  var acc: array<f32, 64>;
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var l = 0u; l < 32u; l++) {
      let e = li + l * THREADS;
      var m: u32;
      var ka: u32;
      if (TRANS_A) { ka = e / TILE; m = e % TILE; } else { m = e / BK; ka = e % BK; }
      var va = 0.0;
      if (m0 + m < M && k0 + ka < K) {
        if (TRANS_A) { va = f32(a[a_base + (k0 + ka) * M + m0 + m]); } else { va = f32(a[a_base + (m0 + m) * K + k0 + ka]); }
      }
      a_tile[ka * TILE + m] = va;

      var n: u32;
      var kb: u32;
      if (TRANS_B) { n = e / BK; kb = e % BK; } else { kb = e / TILE; n = e % TILE; }
      var vb = 0.0;
      if (n0 + n < N && k0 + kb < K) {
        if (TRANS_B) { vb = f32(b[b_base + (n0 + n) * K + k0 + kb]); } else { vb = f32(b[b_base + (k0 + kb) * N + n0 + n]); }
      }
      b_tile[kb * TILE + n] = vb;
    }
    workgroupBarrier();
    gemm_tile_accumulate(&acc, lid.x, lid.y);
    workgroupBarrier();
  }

  for (var i = 0u; i < 8u; i++) {
    let m = m0 + lid.y + 8u * i;
    if (m >= M) { continue; }
    for (var j = 0u; j < 8u; j++) {
      let n = n0 + lid.x + 8u * j;
      if (n >= N) { continue; }
      var v = acc[i * 8u + j];
      if (HAS_BIAS) { v += bias[n]; }
      c[c_base + m * N + n] = f16(activate(v));
    }
  }
}
