// Layer norm for f16 inference (Ba et al. 2016): y = (x − μ) / √(σ² + eps) · gamma + beta over
// the last axis, x and y in f16 storage, gamma and beta in f32; μ and σ² in f32 (two passes, mean
// then squared deviations, so E[x²] − E[x]² never cancels), y rounded to f16 once.
// One workgroup of 64 per row, as layer_norm.wgsl, so the f16 and f32 rows of `bench speedup`
// compare storage precision and not two reduction designs.
enable f16;
#include "lib/workgroup_reduce.wgsl"

struct Params { rows: u32, cols: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f16>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f16>;
@group(0) @binding(4) var<uniform> params: Params;

fn h(i: u32) -> f32 {
  return f32(x[i]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  // Uniform per workgroup: the whole group returns or none does (the reductions have barriers).
  if (row >= params.rows) {
    return;
  }
  let C = params.cols;
  let base = row * C;
  var s = 0.0;
  for (var c = lid.x; c < C; c += 64u) {
    s += h(base + c);
  }
  let mu = workgroup_sum(s, lid.x) / f32(C);
  var sq = 0.0;
  for (var c = lid.x; c < C; c += 64u) {
    let d = h(base + c) - mu;
    sq += d * d;
  }
  let rstd = inverseSqrt(workgroup_sum(sq, lid.x) / f32(C) + params.eps);
  for (var c = lid.x; c < C; c += 64u) {
    y[base + c] = f16((h(base + c) - mu) * rstd * gamma[c] + beta[c]);
  }
}
