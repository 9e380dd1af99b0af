// What the two masked-FFN GEMM kernels (ffn_gemm.wgsl for GPUs, ffn_gemm_cpu.wgsl for CPU
// adapters) share: their parameters, the bindings other than the operands a and b (whose element
// types differ: f32 on GPUs, vec4 on CPUs), the unit list, the counted sizes and the epilogues.
// Read ffn_gemm.wgsl's header for what each flag and epilogue means. Needs lib/math.wgsl.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  lda: u32,
  ldb: u32,
  ldc: u32,
  trans_a: u32,
  trans_b: u32,
  gather_n: u32,
  gather_k: u32,
  scatter_m: u32,
  scatter_n: u32,
  count: u32,
  epilogue: u32,
  has_bias: u32,
  has_z: u32,
  write_c2: u32,
}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> z: array<f32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read> units: array<u32>;
@group(0) @binding(6) var<storage, read_write> c: array<f32>;
@group(0) @binding(7) var<storage, read_write> c2: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;

// Index i itself, or the i-th listed unit when `listed`.
fn unit_of(i: u32, listed: u32) -> u32 {
  if (listed != 0u) {
    return units[1u + i];
  }
  return i;
}

// (M, N, K) with the counted dimensions (params.count bits 1, 2, 4) set to the list's count.
fn ffn_sizes() -> vec3<u32> {
  var s = vec3<u32>(params.M, params.N, params.K);
  if (params.count != 0u) {
    let cnt = units[0];
    if ((params.count & 1u) != 0u) { s.x = cnt; }
    if ((params.count & 2u) != 0u) { s.y = cnt; }
    if ((params.count & 4u) != 0u) { s.z = cnt; }
  }
  return s;
}

// Stores the accumulated value `acc` of (m, n) through the epilogue.
fn ffn_store(m: u32, n: u32, acc: f32) {
  var v = acc;
  let u = unit_of(n, params.gather_n);
  var zu = 1.0;
  if (params.has_z != 0u) { zu = z[u]; }
  if (params.epilogue == 0u) {
    if (params.has_bias != 0u) { v += bias[u]; }
    c[unit_of(m, params.scatter_m) * params.ldc + unit_of(n, params.scatter_n)] = v;
  } else if (params.epilogue == 1u) {
    if (params.has_bias != 0u) { v += bias[u]; }
    c[m * params.ldc + n] = v;
    c2[m * params.ldc + n] = gelu(v) * zu;
  } else {
    let p = aux[m * params.ldc + n];
    c[m * params.ldc + n] = v * zu * gelu_grad(p);
    if (params.write_c2 != 0u) { c2[m * params.ldc + n] = v * gelu(p); }
  }
}
