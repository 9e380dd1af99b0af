// Batched GEMM for CPU adapters (the CPU variant of matmul.wgsl, same contract):
//   c[b] = op(a[b]) · op(b[b]) (+ bias), op(x) = xᵀ when TRANS_A / TRANS_B,
// a [M, K] ([K, M] transposed), b [K, N] ([N, K] transposed), c [M, N], row-major; batch z starts
// at z · stride (0 broadcasts an operand). Grid (⌈N / (4·TQ·SG)⌉, ⌈M / TM⌉, batch), one subgroup
// per workgroup. Tiling and why: lib/gemm_cpu.wgsl.
//
// Operands are bound as vec4 arrays. When the stored rows are whole vec4s (a_vec4: K % 4 = 0, or
// M % 4 = 0 for a transposed a; b_vec4 likewise; c_vec4: N % 4 = 0) a load is one vec4 (4
// elements per lane loop); otherwise the kernel reads single elements (the awkward sizes pruning
// and tests produce), about 1.5× slower. Those flags and has_bias are uniforms (a uniform branch
// costs a few instructions next to a load's ~40): only the transposes are pipeline constants, as
// every pipeline variant is seconds of shader compilation on a CPU driver.
enable subgroups;

#include "lib/gemm_cpu.wgsl"

override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Params { M: u32, N: u32, K: u32, stride_a: u32, stride_b: u32, stride_c: u32, has_bias: u32, a_vec4: u32, b_vec4: u32, c_vec4: u32 }
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: Params;

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

fn load_a_k(row: u32, k: u32) -> vec4<f32> {
  let m = min(row, params.M - 1u);
  return a_run(a_base + m * params.K + min(k, params.K - 1u), 1u, k, params.K, params.a_vec4 != 0u);
}
fn load_a_m(row: u32, k: u32) -> vec4<f32> {
  let m = min(row, (params.M - 1u) & ~3u);
  let kk = min(k, params.K - 1u);
  return select(vec4<f32>(0.0), a_run(a_base + kk * params.M + m, 1u, m, params.M, params.a_vec4 != 0u), k < params.K);
}
fn load_b_k(col: u32, k: u32) -> vec4<f32> {
  let n = min(col, params.N - 1u);
  return b_run(b_base + n * params.K + min(k, params.K - 1u), 1u, k, params.K, params.b_vec4 != 0u);
}
fn load_b_n(col: u32, k: u32) -> vec4<f32> {
  let n = min(col, (params.N - 1u) & ~3u);
  let kk = min(k, params.K - 1u);
  return select(vec4<f32>(0.0), b_run(b_base + kk * params.N + n, 1u, n, params.N, params.b_vec4 != 0u), k < params.K);
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  a_base = wid.z * params.stride_a;
  b_base = wid.z * params.stride_b;
  let c_base = wid.z * params.stride_c;
  let m0 = wid.y * TM;
  let n0 = wid.x * (4u * TQ * SG);
  var acc: GemmTile;
  for (var k = 0u; k < params.K; k += 4u * {{KU}}u) {
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
        let v = acc[{{i}}u * TQ + {{q}}u] + bq;
        let at = c_base + (m0 + {{i}}u) * N + n;
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
