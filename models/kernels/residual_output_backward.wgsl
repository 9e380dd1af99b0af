// Backward of residual_output.wgsl for the upstream gradient g, one pass:
//   pass-through (Σ|out| = 0):  g_pass = g (the gradient of out and of x), g_ln = 0, g_prod = 0
//   otherwise:                  g_pass = 0, g_ln = g ⊙ hz, g_prod = g ⊙ ln
// g_prod is summed over rows by the op (engine sumTo) into the gradient of hz; it is written only
// with hz. Replaces the backward of mul, add and where (their binary, where and accumulate
// dispatches) with one kernel.
override HAS_HZ: u32 = 1u;
struct Params { n: u32, width: u32 }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> ln: array<f32>;
@group(0) @binding(2) var<storage, read> hz: array<f32>;
@group(0) @binding(3) var<storage, read> abs_sum: array<f32>;
@group(0) @binding(4) var<storage, read_write> g_ln: array<f32>;
@group(0) @binding(5) var<storage, read_write> g_pass: array<f32>;
@group(0) @binding(6) var<storage, read_write> g_prod: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= params.n) {
    return;
  }
  let gi = g[i];
  let passing = abs_sum[0] == 0.0;
  g_pass[i] = select(0.0, gi, passing);
  if (HAS_HZ != 0u) {
    g_ln[i] = select(gi * hz[i % params.width], 0.0, passing);
    g_prod[i] = select(gi * ln[i], 0.0, passing);
  } else {
    g_ln[i] = select(gi, 0.0, passing);
  }
}
