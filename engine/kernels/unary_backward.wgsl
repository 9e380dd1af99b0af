// dx = dy * f'(x), with f and its codes as in unary.wgsl. Both x and y = f(x) are bound; each
// derivative uses whichever is cheaper and more precise.
#include "lib/math.wgsl"
#include "lib/unary_ops.wgsl"

override OP: u32;
struct Params { n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) {
    dx[i] = dy[i] * unary_derivative(x[i], y[i], params.alpha, params.beta);
  }
}
