// out[o, j, i] = x[o, idx[o, j, i], i] (PyTorch's gather along the middle axis of
// x viewed as [outer, D, inner]); NaN for an index outside [0, D).
#include "lib/math.wgsl"

struct Params { n: u32, D: u32, J: u32, inner: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= params.n) {
    return;
  }
  let i = e % params.inner;
  let o = e / (params.inner * params.J);
  let d = idx[e];
  if (d < 0 || u32(d) >= params.D) {
    out[e] = nan_f32();
    return;
  }
  out[e] = x[(o * params.D + u32(d)) * params.inner + i];
}
