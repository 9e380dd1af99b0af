// The indexed GEMM of the masked FFN (engine/ops/masked_ffn.ts): c = op(a) · op(b) over the FFN
// units that are active (z ≠ 0), listed on the GPU by ffn_compact.wgsl as
//   units[0] = count, units[1 + r] = the r-th active unit (ascending).
// One kernel serves all six products of the FFN's forward and backward passes; flags say which
// dimension runs over the active units and how:
//   count:      bit 0/1/2: M/N/K is units[0] instead of the uniform (the host never reads it);
//   gather_n:   column n of op(b) is the stored column/row units[1 + n] (rows of w1 or columns
//               of w2 picked through the list in the tile loads);
//   gather_k:   row k of op(b) is the stored row/column units[1 + k];
//   scatter_m / scatter_n: row m / column n of c is written at units[1 + m] / units[1 + n]
//               (gradients of w1 rows, w2 columns; the caller zeroes c first);
//   epilogue 0: c = acc (+ bias[n]);
//   epilogue 1: (FFN up) c = acc + bias[u], c2 = gelu(c) · z[u], with u the unit of column n;
//   epilogue 2: (FFN up, backward) with p = aux (the saved pre-activation):
//               c = acc · z[u] · gelu'(p), c2 = acc · gelu(p) (when write_c2: for dz).
// Operands: a is [M, K] (or [K, M] with trans_a) with row stride lda; b is [K, N] (or [N, K] with
// trans_b) with row stride ldb before gathering; c/c2/aux have row stride ldc. Activations kept in
// "compact" form [rows, I] hold unit units[1 + r] in column r < count; columns past the count are
// never read.
//
// Tiling: lib/gemm_tile.wgsl (as matmul.wgsl). The
// grid covers the full width I of a counted dimension; workgroups past the count return at once,
// so the work is that of a dense GEMM of the active width, plus one index load per gathered
// element staged (32 per thread per slice, against 2048 FMAs).
// Cost of the FFN over M rows with n of its I units active: forward 4·M·H·n flops (two GEMMs),
// backward 8·M·H·n (da, dx, dw1, dw2), i.e. the dense cost scaled by n/I; global traffic of each
// GEMM as a dense 64×64-tiled GEMM of that width (operands re-read once per 64-wide tile).
// The flags are uniforms, not pipeline overrides: they only change tile-load and store addressing
// (uniform branches, nothing in the FMA loop), and each pipeline variant of this kernel costs
// about five seconds of shader compilation on lavapipe.
#include "lib/math.wgsl"
#include "lib/gemm_tile.wgsl"
#include "lib/ffn_gemm_io.wgsl"

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let sizes = ffn_sizes();
  let M = sizes.x;
  let N = sizes.y;
  let K = sizes.z;
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  if (m0 >= M || n0 >= N) {
    return;
  }
  let trans_a = params.trans_a != 0u;
  let trans_b = params.trans_b != 0u;

  var acc: array<f32, 64>;
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var l = 0u; l < 32u; l++) {
      let e = li + l * THREADS;
      var m: u32;
      var ka: u32;
      if (trans_a) { ka = e / TILE; m = e % TILE; } else { m = e / BK; ka = e % BK; }
      var va = 0.0;
      if (m0 + m < M && k0 + ka < K) {
        if (trans_a) { va = a[(k0 + ka) * params.lda + m0 + m]; } else { va = a[(m0 + m) * params.lda + k0 + ka]; }
      }
      a_tile[ka * TILE + m] = va;

      var n: u32;
      var kb: u32;
      if (trans_b) { n = e / BK; kb = e % BK; } else { kb = e / TILE; n = e % TILE; }
      var vb = 0.0;
      if (n0 + n < N && k0 + kb < K) {
        let sn = unit_of(n0 + n, params.gather_n);
        let sk = unit_of(k0 + kb, params.gather_k);
        if (trans_b) { vb = b[sn * params.ldb + sk]; } else { vb = b[sk * params.ldb + sn]; }
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
      ffn_store(m, n, acc[i * 8u + j]);
    }
  }
}
