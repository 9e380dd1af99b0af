// Sums of x viewed as [outer, R, inner] over R, for small `inner`: one workgroup per output
// (o, i) and chunk of R, threads striding along R and combining in a tree.
// partial[(o * inner + i) * chunks + c] = scale * Σ_{r in chunk c} x[(o * R + r) * inner + i];
// with several chunks the host reduces the partial sums again.
#include "lib/workgroup_reduce.wgsl"

struct Params { outputs: u32, R: u32, inner: u32, chunk: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let out_index = wid.x + wid.y * nwg.x;
  if (out_index >= params.outputs) {
    return;
  }
  let o = out_index / params.inner;
  let i = out_index % params.inner;
  let r0 = wid.z * params.chunk;
  let r1 = min(params.R, r0 + params.chunk);
  var s = 0.0;
  for (var r = r0 + lid.x; r < r1; r += 64u) {
    s += x[(o * params.R + r) * params.inner + i];
  }
  s = workgroup_sum(s, lid.x);
  if (lid.x == 0u) {
    partial[out_index * nwg.z + wid.z] = s * params.scale;
  }
}
