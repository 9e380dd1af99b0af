// Backward of residual_input.wgsl for the upstream gradient g (the gradient of x is g itself):
//   d = dropout mask(g) (same key, same scale)
//   g_out = d ⊙ hz,  g_prod = d ⊙ out (summed over rows by the op into the gradient of hz)
// g_prod is written only with hz. One Philox block (four elements) per invocation.
#include "lib/philox.wgsl"

override HAS_HZ: u32 = 1u;
struct Params { n: u32, width: u32, p: f32, scale: f32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> sub_out: array<f32>;
@group(0) @binding(2) var<storage, read> hz: array<f32>;
@group(0) @binding(3) var<storage, read_write> g_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> g_prod: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let blk = gid.x + gid.y * nwg.x * 64u;
  if (4u * blk >= params.n) {
    return;
  }
  let u = philox_uniform4(params.key, blk);
  for (var t = 0u; t < 4u; t++) {
    let i = 4u * blk + t;
    if (i >= params.n) { break; }
    let d = select(0.0, g[i] * params.scale, u[t] >= params.p);
    if (HAS_HZ != 0u) {
      g_out[i] = d * hz[i % params.width];
      g_prod[i] = d * sub_out[i];
    } else {
      g_out[i] = d;
    }
  }
}
