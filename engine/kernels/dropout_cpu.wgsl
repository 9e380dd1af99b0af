// Inverted dropout for CPU adapters: the CPU variant of dropout.wgsl (same mask: element i is kept
// when the i-th Philox uniform under `key` is ≥ p). Each invocation takes V Philox blocks, i.e.
// V consecutive vec4s, one block's four uniforms per vec4: one vec4 read and write per block
// instead of four scalar ones (unary_cpu.wgsl on why that matters on a CPU driver).
#include "lib/philox.wgsl"

const V = 4u;
struct Params { n: u32, p: f32, scale: f32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (gid.x + gid.y * nwg.x * 64u) * V;
  let n4 = (params.n + 3u) / 4u;
  for (var j = 0u; j < V; j++) {
    let i = first + j;
    if (i >= n4) { break; }
    let u = philox_uniform4(params.key, i);
    let out = select(vec4<f32>(0.0), x[i] * params.scale, u >= vec4<f32>(params.p));
    if (4u * i + 3u < params.n) {
      y[i] = out;
    } else {
      for (var t = 0u; 4u * i + t < params.n; t++) { y[i][t] = out[t]; }
    }
  }
}
