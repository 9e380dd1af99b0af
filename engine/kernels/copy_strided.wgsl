// Strided copy: for every index of `shape`, out[out_offset + Σ c·out_strides] =
// inp[in_offset + Σ c·in_strides]. Permute, slice, pad and concat are all this one kernel.
#include "lib/strided.wgsl"

struct Params {
  n: u32,
  rank: u32,
  in_offset: u32,
  out_offset: u32,
  shape: array<vec4<u32>, 2>,
  in_strides: array<vec4<u32>, 2>,
  out_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> inp: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{T}}>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let src = params.in_offset + strided_offset(i, params.rank, params.shape, params.in_strides);
  let dst = params.out_offset + strided_offset(i, params.rank, params.shape, params.out_strides);
  out[dst] = inp[src];
}
