// The indexed GEMM of the masked FFN for CPU adapters: the CPU variant of ffn_gemm.wgsl, with the
// same parameters and meaning (active-unit list `units`, counted dimensions, gathers, scatters and
// epilogues 0/1/2: read that file's header). Only the register tile differs: lib/gemm_cpu.wgsl
// (one subgroup per workgroup, TM rows × 4·TQ columns per lane, rows of op(a) shared through
// subgroup shuffles, no workgroup memory or barriers) and why it suits a CPU driver.
//
// Loads never go through the unit list: with a list, masked_ffn.ts passes w1's active rows and
// w2's active columns already copied into compact buffers (ffn_gather_cpu.wgsl), since a lookup
// per load inside the k loop halved the speed of a listed FFN here; gather_n and gather_k only
// steer the epilogue's bias and z lookups. op(a) and op(b) are read as vec4s when their leading
// dimension is a multiple of 4 (masked_ffn.ts pads the compact widths to one), else element by
// element. Operand transposes are pipeline constants (three layouts occur: NT, NN, TN), and so is
// whether each operand's rows are whole vec4s (A_VEC4, B_VEC4): llvmpipe pays for the element path
// of a uniform branch even when it is not taken (matmul_cpu.wgsl: 23 against 36 GFLOP/s). The
// other flags are uniforms, as in the GPU kernel, to keep pipeline variants (seconds of
// compilation each) few.
// Workgroups whose rows or columns start past a count return at once.
enable subgroups;

#include "lib/math.wgsl"
#include "lib/gemm_cpu.wgsl"
#include "lib/ffn_gemm_io.wgsl"

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// lda % 4 = 0 and ldb % 4 = 0.
override A_VEC4: bool = true;
override B_VEC4: bool = true;

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;

// Sizes with counted dimensions resolved (set once in main).
var<private> M: u32;
var<private> N: u32;
var<private> K: u32;

fn trans_a() -> bool { return TRANS_A; }
fn trans_b() -> bool { return TRANS_B; }

fn a_at(i: u32) -> f32 { return a[i / 4u][i % 4u]; }
fn b_at(i: u32) -> f32 { return b[i / 4u][i % 4u]; }

// Lanes of a vec4 along k that lie before K (a row's vec4 may run past K into padding or the
// next row: those elements are zeroed, as NaN · 0 is not 0).
fn below_k(k: u32) -> vec4<bool> {
  return vec4<u32>(k) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(K);
}

fn load_a_k(row: u32, k: u32) -> vec4<f32> {
  let base = min(row, M - 1u) * params.lda;
  if (A_VEC4) {
    return select(vec4<f32>(0.0), a[(base + min(k, K - 1u)) / 4u], below_k(k));
  }
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    if (k + t < K) { r[t] = a_at(base + k + t); }
  }
  return r;
}

fn load_a_m(row: u32, k: u32) -> vec4<f32> {
  let m = min(row, (M - 1u) & ~3u);
  let base = min(k, K - 1u) * params.lda + m;
  var r = vec4<f32>(0.0);
  if (A_VEC4) {
    r = a[base / 4u];
  } else {
    for (var t = 0u; t < 4u; t++) {
      if (m + t < M) { r[t] = a_at(base + t); }
    }
  }
  return select(vec4<f32>(0.0), r, k < K);
}

// op(b)(k .. k+3, col) of a b stored [N, K].
fn load_b_k(col: u32, k: u32) -> vec4<f32> {
  let base = min(col, N - 1u) * params.ldb;
  if (B_VEC4) {
    return select(vec4<f32>(0.0), b[(base + min(k, K - 1u)) / 4u], below_k(k));
  }
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    if (k + t < K) { r[t] = b_at(base + k + t); }
  }
  return r;
}

// op(b)(k, col .. col+3) of a b stored [K, N].
fn load_b_n(col: u32, k: u32) -> vec4<f32> {
  let n = min(col, (N - 1u) & ~3u);
  let base = min(k, K - 1u) * params.ldb;
  var r = vec4<f32>(0.0);
  if (B_VEC4) {
    r = b[(base + n) / 4u];
  } else {
    for (var t = 0u; t < 4u; t++) {
      if (n + t < N) { r[t] = b_at(base + n + t); }
    }
  }
  return select(vec4<f32>(0.0), r, k < K);
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  // Counted sizes as locals (uniform for the analysis the shuffles need), copied to the privates
  // the loads clamp with.
  let sizes = ffn_sizes();
  let Ml = sizes.x;
  let Nl = sizes.y;
  let Kl = sizes.z;
  M = Ml;
  N = Nl;
  K = Kl;
  let m0 = wid.y * TM;
  let n0 = wid.x * (4u * TQ * SG);
  if (m0 >= Ml || n0 >= Nl) {
    return;
  }
  var acc: GemmTile;
  for (var k = 0u; k < Kl; k += 4u * {{KU}}u) {
#unroll u {{KU}}
    gemm_cpu_step(&acc, m0, n0, k + 4u * {{u}}u, lane);
#end
  }
  // The epilogue walks a copy of the tile with run-time indices (one ffn_store() in the code instead
  // of TM·4·TQ inlined copies: shader compilation time); the tile itself stays in registers.
  var out: GemmTile;
#unroll i {{TM}} * {{TQ}}
  out[{{i}}u] = acc[{{i}}u];
#end
  for (var q = 0u; q < TQ; q++) {
    for (var t = 0u; t < 4u; t++) {
      let n = gemm_cpu_col(n0, q, lane) + t;
      if (n >= N) { continue; }
      for (var i = 0u; i < TM && m0 + i < M; i++) {
        ffn_store(m0 + i, n, out[i * TQ + q][t]);
      }
    }
  }
}
