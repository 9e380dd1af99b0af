// The GEMMs of a Linear whose weight is masked element-wise (pruning/element/masked_linear.ts):
// y = x·(w ⊙ mask)ᵀ + b and its gradients, with the mask applied where the weight is loaded into
// workgroup memory, so w ⊙ mask is never written out (no extra pass over the weight).
//   epilogue 0: c = op(a) · op(b ⊙ mask) (+ bias[n]), with mask_b: b's tile loads multiplied by
//               mask at the same index (mask has b's layout); without mask_b, plain op(a)·op(b).
//               Forward: a = x [M, K], b = w [N, K] (trans_b). dx: a = dy [M, K], b = w [K, N].
//   epilogue 1: G = op(a) · op(b) is the weight's gradient before masking; with G [M, N] in the
//               weight's layout, c = G ⊙ mask (dw, when write_c) and c2 = G ⊙ w (d mask, when
//               write_c2). a = dy [T, M] (trans_a), b = x [T, N].
// Operands are row-major: a [M, K] ([K, M] with trans_a), b [K, N] ([N, K] with trans_b), c [M, N].
// Tiling: lib/gemm_tile.wgsl (as matmul.wgsl); flags are uniforms (one pipeline, see ffn_gemm.wgsl).
#include "lib/gemm_tile.wgsl"

struct Params {
  M: u32,
  N: u32,
  K: u32,
  trans_a: u32,
  trans_b: u32,
  mask_b: u32,
  has_bias: u32,
  epilogue: u32,
  write_c: u32,
  write_c2: u32,
}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;
@group(0) @binding(6) var<storage, read_write> c2: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let trans_a = params.trans_a != 0u;
  let trans_b = params.trans_b != 0u;
  let masked = params.mask_b != 0u;

  var acc: array<f32, 64>;
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var l = 0u; l < 32u; l++) {
      let e = li + l * THREADS;
      var m: u32;
      var ka: u32;
      if (trans_a) { ka = e / TILE; m = e % TILE; } else { m = e / BK; ka = e % BK; }
      var va = 0.0;
      if (m0 + m < M && k0 + ka < K) {
        if (trans_a) { va = a[(k0 + ka) * M + m0 + m]; } else { va = a[(m0 + m) * K + k0 + ka]; }
      }
      a_tile[ka * TILE + m] = va;

      var n: u32;
      var kb: u32;
      if (trans_b) { n = e / BK; kb = e % BK; } else { kb = e / TILE; n = e % TILE; }
      var vb = 0.0;
      if (n0 + n < N && k0 + kb < K) {
        var idx: u32;
        if (trans_b) { idx = (n0 + n) * K + k0 + kb; } else { idx = (k0 + kb) * N + n0 + n; }
        vb = b[idx];
        if (masked) { vb *= mask[idx]; }
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
      let v = acc[i * 8u + j];
      let o = m * N + n;
      if (params.epilogue == 0u) {
        if (params.has_bias != 0u) { c[o] = v + bias[n]; } else { c[o] = v; }
      } else {
        if (params.write_c != 0u) { c[o] = v * mask[o]; }
        if (params.write_c2 != 0u) { c2[o] = v * w[o]; }
      }
    }
  }
}
