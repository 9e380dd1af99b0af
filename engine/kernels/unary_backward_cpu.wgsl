// dx = dy · f'(x) for CPU adapters: the CPU variant of unary_backward.wgsl (same OP codes),
// V vec4s per invocation (unary_cpu.wgsl explains why).
#include "lib/math.wgsl"
#include "lib/unary_ops.wgsl"

override OP: u32;
const V = 4u;
struct Params { n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (gid.x + gid.y * nwg.x * 64u) * V;
  let n4 = (params.n + 3u) / 4u;
  for (var j = 0u; j < V; j++) {
    let i = first + j;
    if (i >= n4) { break; }
    let xv = x[i];
    let yv = y[i];
    let out = dy[i] * vec4<f32>(unary_derivative(xv.x, yv.x, params.alpha, params.beta), unary_derivative(xv.y, yv.y, params.alpha, params.beta), unary_derivative(xv.z, yv.z, params.alpha, params.beta), unary_derivative(xv.w, yv.w, params.alpha, params.beta));
    if (4u * i + 3u < params.n) {
      dx[i] = out;
    } else {
      for (var t = 0u; 4u * i + t < params.n; t++) { dx[i][t] = out[t]; }
    }
  }
}
