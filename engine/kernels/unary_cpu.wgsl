// y = f(x) elementwise for CPU adapters: the CPU variant of unary.wgsl (same OP codes, alpha,
// beta). Each invocation maps V consecutive vec4s: on a CPU driver a storage access is a loop over
// the SIMD lanes, so a vec4 per access and several per invocation are what make a memory-bound
// map fast; a GPU wants one element per thread (unary.wgsl). The last, partial vec4 is written
// component by component.
#include "lib/math.wgsl"
#include "lib/unary_ops.wgsl"

override OP: u32;
const V = 4u;
struct Params { n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;

fn apply4(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(unary_op(v.x, params.alpha, params.beta), unary_op(v.y, params.alpha, params.beta), unary_op(v.z, params.alpha, params.beta), unary_op(v.w, params.alpha, params.beta));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (gid.x + gid.y * nwg.x * 64u) * V;
  let n4 = (params.n + 3u) / 4u;
  for (var j = 0u; j < V; j++) {
    let i = first + j;
    if (i >= n4) { break; }
    let out = apply4(x[i]);
    if (4u * i + 3u < params.n) {
      y[i] = out;
    } else {
      for (var t = 0u; 4u * i + t < params.n; t++) { y[i][t] = out[t]; }
    }
  }
}
