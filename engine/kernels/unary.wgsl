// y = f(x) elementwise. OP selects f; the codes are UNARY_OPS in engine/ops/elementwise.ts.
// alpha and beta parameterise some: affine alpha*x + beta, pow x^alpha, clamp to [alpha, beta].
#include "lib/math.wgsl"
#include "lib/unary_ops.wgsl"

override OP: u32;
struct Params { n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) {
    y[i] = unary_op(x[i], params.alpha, params.beta);
  }
}
