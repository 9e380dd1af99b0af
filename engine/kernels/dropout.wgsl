// Inverted dropout: y = keep ? x / (1 − p) : 0 with keep = (u ≥ p), u the Philox uniform of the
// element under `key`. The backward pass is this same kernel on dy with the same key.
// Each thread draws one Philox philox_block and uses its four lanes for four consecutive elements.
#include "lib/philox.wgsl"

struct Params { n: u32, p: f32, scale: f32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let philox_block = gid.x + gid.y * nwg.x * 64u;
  let start = philox_block * 4u;
  if (start >= params.n) {
    return;
  }
  let r = philox4x32(vec4<u32>(philox_block, 0u, 0u, 0u), params.key);
  for (var lane = 0u; lane < 4u; lane++) {
    let i = start + lane;
    if (i < params.n) {
      y[i] = select(0.0, x[i] * params.scale, u01(r[lane]) >= params.p);
    }
  }
}
