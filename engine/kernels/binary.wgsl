// c = a ∘ b with broadcasting. Operand strides are given per output dimension (0 where an
// operand is broadcast), after engine/ops/layout.ts merged the dimensions it could.
// OP codes are BINARY_OPS in engine/ops/elementwise.ts; comparisons give 1.0 or 0.0.
#include "lib/strided.wgsl"
#include "lib/binary_ops.wgsl"

override OP: u32;
struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;


@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let ia = strided_offset(i, params.rank, params.shape, params.a_strides);
  let ib = strided_offset(i, params.rank, params.shape, params.b_strides);
  c[i] = binary_op(a[ia], b[ib]);
}
