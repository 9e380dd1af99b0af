// c = a ∘ b with broadcasting, for CPU adapters: the CPU variant of binary.wgsl (same OP codes,
// shapes and strides), four elements per access where the layout allows (lib/strided_vec4.wgsl),
// V output vec4s per invocation. A_MODE / B_MODE: how each operand is read (set by the host from
// its strides; MODE_ELEMENTS whenever the innermost dimension is not a multiple of 4). They are
// pipeline constants, not uniforms: llvmpipe pays for the per-element path of a uniform branch
// even when no lane takes it ([1024, 128] + [1024, 128]: 0.67-0.90 ms as uniforms, against 0.16 ms
// for a unary map over the same tensor), and so are MODE_SAME / MODE_SCALAR (lib/strided_vec4.wgsl),
// and MODE_ROW, which skip most of the offset arithmetic.
#include "lib/strided_vec4.wgsl"
#include "lib/binary_ops.wgsl"

override OP: u32;
override A_MODE: u32;
override B_MODE: u32;
const V = 4u;
struct Params {
  n: u32,
  rank: u32,
  // Row length of MODE_ROW operands (the merged shape's innermost dimension).
  row_len: u32,
  shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;


fn load_a(e: u32) -> vec4<f32> {
  if (A_MODE == MODE_SAME) { return a[e / 4u]; }
  if (A_MODE == MODE_SCALAR) { return vec4<f32>(a[0][0]); }
  if (A_MODE == MODE_ROW) { return a[(e % params.row_len) / 4u]; }
  if (A_MODE != MODE_ELEMENTS) {
    let off = strided_offset(e, params.rank, params.shape, params.a_strides);
    if (A_MODE == MODE_VEC4) { return a[off / 4u]; }
    return vec4<f32>(a[off / 4u][off % 4u]);
  }
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u && e + t < params.n; t++) {
    let off = strided_offset(e + t, params.rank, params.shape, params.a_strides);
    r[t] = a[off / 4u][off % 4u];
  }
  return r;
}

fn load_b(e: u32) -> vec4<f32> {
  if (B_MODE == MODE_SAME) { return b[e / 4u]; }
  if (B_MODE == MODE_SCALAR) { return vec4<f32>(b[0][0]); }
  if (B_MODE == MODE_ROW) { return b[(e % params.row_len) / 4u]; }
  if (B_MODE != MODE_ELEMENTS) {
    let off = strided_offset(e, params.rank, params.shape, params.b_strides);
    if (B_MODE == MODE_VEC4) { return b[off / 4u]; }
    return vec4<f32>(b[off / 4u][off % 4u]);
  }
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u && e + t < params.n; t++) {
    let off = strided_offset(e + t, params.rank, params.shape, params.b_strides);
    r[t] = b[off / 4u][off % 4u];
  }
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (gid.x + gid.y * nwg.x * 64u) * V;
  let n4 = (params.n + 3u) / 4u;
  for (var j = 0u; j < V; j++) {
    let i = first + j;
    if (i >= n4) { break; }
    let x = load_a(4u * i);
    let y = load_b(4u * i);
    let out = vec4<f32>(binary_op(x.x, y.x), binary_op(x.y, y.y), binary_op(x.z, y.z), binary_op(x.w, y.w));
    if (4u * i + 3u < params.n) {
      c[i] = out;
    } else {
      for (var t = 0u; 4u * i + t < params.n; t++) { c[i][t] = out[t]; }
    }
  }
}
