// One AdamW step for CPU adapters: the CPU variant of adamw.wgsl (same update, same parameters;
// read its header for the math). Each invocation updates V consecutive vec4s (16 elements): on a
// CPU driver every storage access is a per-lane loop of scalar loads, so a vec4 access (4
// elements per loop) and several elements per invocation (fewer index computations and
// invocations) are what make this memory-bound kernel fast; a GPU prefers one element per thread.
// The last vec4 of a tensor whose size is not a multiple of 4 is written component by component.
// With a FiniteWatch (watch_serial ≠ 0) the written values are checked in the same pass, as in
// adamw.wgsl: one vector test per vec4, the per-element record only where it finds something.
#include "lib/adamw_params.wgsl"

const V = 4u;

@group(0) @binding(0) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> clip_scale: array<f32>;

// Checks the first `valid` components of the vec4 at element 4·i of each part.
fn watch4(i: u32, valid: u32, p: vec4<f32>, mi: vec4<f32>, vi: vec4<f32>) {
  if (!(any_nonfinite4(p) || any_nonfinite4(mi) || any_nonfinite4(vi))) {
    return;
  }
  let check = adamw_check();
  for (var t = 0u; t < valid; t++) {
    finite_flag_value(check, params.n, 0u, 4u * i + t, p[t]);
    finite_flag_value(check, params.n, 1u, 4u * i + t, mi[t]);
    finite_flag_value(check, params.n, 2u, 4u * i + t, vi[t]);
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (gid.x + gid.y * nwg.x * 64u) * V;
  let n4 = (params.n + 3u) / 4u;
  let cs = clip_scale[0];
  let decay = 1.0 - params.lr * params.weight_decay;
  for (var j = 0u; j < V; j++) {
    let i = first + j;
    if (i >= n4) {
      break;
    }
    let g = grad[i] * cs;
    let mi = params.beta1 * m[i] + params.one_minus_beta1 * g;
    let vi = params.beta2 * v[i] + params.one_minus_beta2 * g * g;
    let p = param[i] * decay - params.lr * (mi / params.bc1) / (sqrt(vi / params.bc2) + params.eps);
    let valid = min(4u, params.n - 4u * i);
    if (params.watch_serial != 0u) {
      // Components past n of the last vec4 may hold anything: only the valid ones are checked.
      watch4(i, valid, p, mi, vi);
    }
    if (valid == 4u) {
      m[i] = mi;
      v[i] = vi;
      param[i] = p;
    } else {
      for (var t = 0u; 4u * i + t < params.n; t++) {
        m[i][t] = mi[t];
        v[i][t] = vi[t];
        param[i][t] = p[t];
      }
    }
  }
}
