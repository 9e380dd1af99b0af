// One AdamW step (Loshchilov & Hutter 2019) for one parameter tensor, as PyTorch's AdamW:
//   g ← g · clip_scale          (global-norm clipping factor, computed on the GPU)
//   m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²
//   p ← p · (1 − lr·wd) − lr · (m / bc1) / (√(v / bc2) + eps),  bc_i = 1 − β_i^t
// A negative lr ascends (Lagrange multipliers).
// With a FiniteWatch (watch_serial ≠ 0), the values written are checked for NaN and ±Infinity in
// the same pass, as parts 0 (param), 1 (m) and 2 (v) of one check (lib/finite_flag.wgsl): the
// run loop's per-step check of the training state then costs no extra read of it.
#include "lib/adamw_params.wgsl"

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> clip_scale: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let g = grad[i] * clip_scale[0];
  let mi = params.beta1 * m[i] + params.one_minus_beta1 * g;
  let vi = params.beta2 * v[i] + params.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let p = param[i] * (1.0 - params.lr * params.weight_decay) - params.lr * (mi / params.bc1) / (sqrt(vi / params.bc2) + params.eps);
  param[i] = p;
  if (params.watch_serial != 0u) {
    let check = adamw_check();
    finite_flag_value(check, params.n, 0u, i, p);
    finite_flag_value(check, params.n, 1u, i, mi);
    finite_flag_value(check, params.n, 2u, i, vi);
  }
}
