// Batched GEMM for CPU adapters (the CPU variant of matmul.wgsl, and more general):
//   c[z] = alpha(z) · op(a[z]) · op(b[z]) (+ bias), op(x) = xᵀ when TRANS_A / TRANS_B,
// with op(a) M×K, op(b) K×N, c M×N; rows of a, b and c are lda, ldb, ldc elements apart, and
// batch entry z = z1·inner + z2 starts at z1·s1 + z2·s2 in each operand (strides of 0 broadcast).
// So a head of a [B, S, heads·d] projection is addressed in place (inner = heads, s1 = S·heads·d,
// s2 = d, ld = heads·d): models/ops/masked_attention_cpu.ts runs attention on CPU adapters as
// these products. alpha(z) = alpha_scale · alpha[z mod alpha_period] (alpha_scale alone when
// alpha_period is 0; with alpha_gate, alpha[·] only gates: alpha_scale where it is ≠ 0, else 0);
// a batch entry whose alpha is 0 writes zeros without computing (masked-out heads of a pruned model cost
// nothing). Grid (⌈N / (4·TQ·SG)⌉, ⌈M / TM⌉, batch), one subgroup per
// workgroup. Tiling and why: lib/gemm_cpu.wgsl.
//
// Operands are bound as vec4 arrays. When an operand's rows and batch offsets are whole vec4s
// (A_VEC4, B_VEC4: leading dimension and strides multiples of 4) a load is one vec4 (4 elements
// per lane loop); otherwise the kernel reads single elements (the awkward sizes pruning and tests
// produce). Those two are pipeline constants, like the transposes: as uniforms (one pipeline for
// both kinds of load, a uniform branch per load) the peak GEMM ran at 23 GFLOP/s against 36 with
// the element path compiled out (bench/results/cpu_gemm_sweep.md), since llvmpipe does not skip
// the untaken side of a branch on a uniform as cheaply as a GPU. c_vec4 (the epilogue's stores,
// once per tile) and has_bias stay uniforms: each pipeline variant is seconds of compilation.
enable subgroups;

#include "lib/gemm_cpu.wgsl"

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override A_VEC4: bool = true;
override B_VEC4: bool = true;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  lda: u32,
  ldb: u32,
  ldc: u32,
  inner: u32,
  sa1: u32,
  sa2: u32,
  sb1: u32,
  sb2: u32,
  sc1: u32,
  sc2: u32,
  alpha_period: u32,
  alpha_gate: u32,
  alpha_scale: f32,
  has_bias: u32,
  c_vec4: u32,
}
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> alpha: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> params: Params;

var<private> a_base: u32;
var<private> b_base: u32;

fn trans_a() -> bool { return TRANS_A; }
fn trans_b() -> bool { return TRANS_B; }

// Four elements of a from flat index i with stride `step`, element t kept while at + t < end.
fn a_run(i: u32, step: u32, at: u32, end: u32, whole: bool) -> vec4<f32> {
  if (whole) {
    return select(vec4<f32>(0.0), a[i / 4u], at < end);
  }
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    if (at + t < end) { let e = i + t * step; r[t] = a[e / 4u][e % 4u]; }
  }
  return r;
}
fn b_run(i: u32, step: u32, at: u32, end: u32, whole: bool) -> vec4<f32> {
  if (whole) {
    return select(vec4<f32>(0.0), b[i / 4u], at < end);
  }
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    if (at + t < end) { let e = i + t * step; r[t] = b[e / 4u][e % 4u]; }
  }
  return r;
}

// Lanes of a vec4 along k that lie before K: a whole vec4 may run past K into the next row.
fn below_k(k: u32) -> vec4<bool> {
  return vec4<u32>(k) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(params.K);
}

fn load_a_k(row: u32, k: u32) -> vec4<f32> {
  let m = min(row, params.M - 1u);
  return select(vec4<f32>(0.0), a_run(a_base + m * params.lda + min(k, params.K - 1u), 1u, k, params.K, A_VEC4), below_k(k));
}
fn load_a_m(row: u32, k: u32) -> vec4<f32> {
  let m = min(row, (params.M - 1u) & ~3u);
  let kk = min(k, params.K - 1u);
  return select(vec4<f32>(0.0), a_run(a_base + kk * params.lda + m, 1u, m, params.M, A_VEC4), k < params.K);
}
fn load_b_k(col: u32, k: u32) -> vec4<f32> {
  let n = min(col, params.N - 1u);
  return select(vec4<f32>(0.0), b_run(b_base + n * params.ldb + min(k, params.K - 1u), 1u, k, params.K, B_VEC4), below_k(k));
}
fn load_b_n(col: u32, k: u32) -> vec4<f32> {
  let n = min(col, (params.N - 1u) & ~3u);
  let kk = min(k, params.K - 1u);
  return select(vec4<f32>(0.0), b_run(b_base + kk * params.ldb + n, 1u, n, params.N, B_VEC4), k < params.K);
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let z1 = wid.z / params.inner;
  let z2 = wid.z % params.inner;
  a_base = z1 * params.sa1 + z2 * params.sa2;
  b_base = z1 * params.sb1 + z2 * params.sb2;
  let c_base = z1 * params.sc1 + z2 * params.sc2;
  let m0 = wid.y * TM;
  let n0 = wid.x * (4u * TQ * SG);
  var scale = params.alpha_scale;
  if (params.alpha_period != 0u) {
    let f = alpha[wid.z % params.alpha_period];
    scale = select(scale * f, select(scale, 0.0, f == 0.0), params.alpha_gate != 0u);
  }
  // A zero scale (a pruned head) skips the products: the tile stays 0.
  let K = select(params.K, 0u, scale == 0.0);
  var acc: GemmTile;
  for (var k = 0u; k < K; k += 4u * {{KU}}u) {
#unroll u {{KU}}
    gemm_cpu_step(&acc, m0, n0, k + 4u * {{u}}u, lane);
#end
  }
  let N = params.N;
  let c_vec4 = params.c_vec4 != 0u;
#unroll q {{TQ}}
  {
    let n = gemm_cpu_col(n0, {{q}}u, lane);
    if (n < N) {
      var bq = vec4<f32>(0.0);
      if (params.has_bias != 0u) {
        if (c_vec4) {
          bq = bias[n / 4u];
        } else {
          for (var t = 0u; t < 4u; t++) { if (n + t < N) { bq[t] = bias[(n + t) / 4u][(n + t) % 4u]; } }
        }
      }
#unroll i {{TM}}
      if (m0 + {{i}}u < params.M) {
        let v = acc[{{i}}u * TQ + {{q}}u] * scale + bq;
        let at = c_base + (m0 + {{i}}u) * params.ldc + n;
        if (c_vec4) {
          c[at / 4u] = v;
        } else {
          for (var t = 0u; t < 4u; t++) { if (n + t < N) { c[(at + t) / 4u][(at + t) % 4u] = v[t]; } }
        }
      }
#end
    }
  }
#end
}
