// out = cond != 0 ? a : b, with broadcasting as in binary.wgsl.
#include "lib/strided.wgsl"

struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4<u32>, 2>,
  cond_strides: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> cond: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let c = cond[strided_offset(i, params.rank, params.shape, params.cond_strides)];
  let va = a[strided_offset(i, params.rank, params.shape, params.a_strides)];
  let vb = b[strided_offset(i, params.rank, params.shape, params.b_strides)];
  out[i] = select(vb, va, c != 0.0);
}
