// y = f(x) elementwise. OP selects f; the codes are UNARY_OPS in engine/ops/elementwise.ts.
// alpha and beta parameterise some: affine alpha*x + beta, pow x^alpha, clamp to [alpha, beta].
#include "lib/math.wgsl"

override OP: u32;
struct Params { n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn apply(v: f32) -> f32 {
  switch OP {
    case 0u: { return -v; }
    case 1u: { return exp(v); }
    case 2u: { return log(v); }
    case 3u: { return sqrt(v); }
    case 4u: { return tanh_safe(v); }
    case 5u: { return sigmoid(v); }
    case 6u: { return gelu(v); }
    case 7u: { return max(v, 0.0); }
    case 8u: { return abs(v); }
    case 9u: { return params.alpha * v + params.beta; }
    case 10u: { return pow(v, params.alpha); }
    case 11u: { return clamp(v, params.alpha, params.beta); }
    case 12u: { return v * v; }
    case 13u: { return 1.0 / v; }
    case 14u: { return inverseSqrt(v); }
    default: { return v; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) {
    y[i] = apply(x[i]);
  }
}
