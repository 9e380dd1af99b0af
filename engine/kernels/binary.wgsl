// c = a ∘ b with broadcasting. Operand strides are given per output dimension (0 where an
// operand is broadcast), after engine/ops/layout.ts merged the dimensions it could.
// OP codes are BINARY_OPS in engine/ops/elementwise.ts; comparisons give 1.0 or 0.0.
#include "lib/strided.wgsl"

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

fn apply(x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return x + y; }
    case 1u: { return x - y; }
    case 2u: { return x * y; }
    case 3u: { return x / y; }
    case 4u: { return max(x, y); }
    case 5u: { return min(x, y); }
    case 6u: { return pow(x, y); }
    case 7u: { return select(0.0, 1.0, x > y); }
    case 8u: { return select(0.0, 1.0, x >= y); }
    case 9u: { return select(0.0, 1.0, x < y); }
    case 10u: { return select(0.0, 1.0, x <= y); }
    case 11u: { return select(0.0, 1.0, x == y); }
    default: { return x; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let ia = strided_offset(i, params.rank, params.shape, params.a_strides);
  let ib = strided_offset(i, params.rank, params.shape, params.b_strides);
  c[i] = apply(a[ia], b[ib]);
}
