// dx = dy · f'(x) for CPU adapters: the CPU variant of unary_backward.wgsl (same OP codes),
// V vec4s per invocation (unary_cpu.wgsl explains why).
#include "lib/math.wgsl"

override OP: u32;
const V = 4u;
struct Params { n: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: Params;

fn derivative(v: f32, out: f32) -> f32 {
  switch OP {
    case 0u: { return -1.0; }
    case 1u: { return out; }
    case 2u: { return 1.0 / v; }
    case 3u: { return 0.5 / out; }
    case 4u: { return tanh_grad(v); }
    case 5u: { return sigmoid_grad(v); }
    case 6u: { return gelu_grad(v); }
    case 7u: { return select(0.0, 1.0, v > 0.0); }
    case 8u: { return sign(v); }
    case 9u: { return params.alpha; }
    case 10u: { return params.alpha * pow(v, params.alpha - 1.0); }
    case 11u: { return select(0.0, 1.0, v >= params.alpha && v <= params.beta); }
    case 12u: { return 2.0 * v; }
    case 13u: { return -out * out; }
    case 14u: { return -0.5 * out * out * out; }
    default: { return 1.0; }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (gid.x + gid.y * nwg.x * 64u) * V;
  let n4 = (params.n + 3u) / 4u;
  for (var j = 0u; j < V; j++) {
    let i = first + j;
    if (i >= n4) { break; }
    let xv = x[i];
    let yv = y[i];
    let out = dy[i] * vec4<f32>(derivative(xv.x, yv.x), derivative(xv.y, yv.y), derivative(xv.z, yv.z), derivative(xv.w, yv.w));
    if (4u * i + 3u < params.n) {
      dx[i] = out;
    } else {
      for (var t = 0u; 4u * i + t < params.n; t++) { dx[i][t] = out[t]; }
    }
  }
}
