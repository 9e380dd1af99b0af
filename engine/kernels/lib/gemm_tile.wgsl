// The register-blocked core of the GEMM kernels (matmul.wgsl, ffn_gemm.wgsl): an 8×8 workgroup
// computes a 64×64 tile of c, each thread an 8×8 block interleaved with stride 8, so that
// shared-memory reads and global writes of neighbouring threads are contiguous; K advances in
// slices of 32 staged through workgroup memory (2 × 8 KiB). The including kernel stages each slice
// (its loads differ: transposes, gathers) and writes the block (its epilogues differ).

const TILE = 64u;
const BK = 32u;
const THREADS = 64u;
var<workgroup> a_tile: array<f32, 2048>; // [BK][TILE]: a_tile[k * TILE + m]
var<workgroup> b_tile: array<f32, 2048>; // [BK][TILE]: b_tile[k * TILE + n]

// acc[i·8 + j] += Σ_k a_tile[k][ly + 8i] · b_tile[k][lx + 8j] over the staged slice.
fn gemm_tile_accumulate(acc: ptr<function, array<f32, 64>>, lx: u32, ly: u32) {
  for (var k = 0u; k < BK; k++) {
    var av: array<f32, 8>;
    var bv: array<f32, 8>;
    for (var i = 0u; i < 8u; i++) { av[i] = a_tile[k * TILE + ly + 8u * i]; }
    for (var j = 0u; j < 8u; j++) { bv[j] = b_tile[k * TILE + lx + 8u * j]; }
    for (var i = 0u; i < 8u; i++) {
      for (var j = 0u; j < 8u; j++) {
        (*acc)[i * 8u + j] = fma(av[i], bv[j], (*acc)[i * 8u + j]);
      }
    }
  }
}
