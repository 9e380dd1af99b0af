// Layer norm over the last axis (Ba et al. 2016): y = (x − μ) / √(σ² + eps) · gamma + beta,
// one workgroup per row; saves μ and 1/√(σ² + eps) per row for the backward pass.
// With HAS_KEEP, only columns where keep ≠ 0 are normalised and counted in μ and σ²; the
// other columns pass x through unchanged (a layer norm over a subset of the features).
override HAS_KEEP: bool = false;

struct Params { rows: u32, cols: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read> keep: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

var<workgroup> red: array<vec2<f32>, 64>;

fn kept(c: u32) -> bool {
  return !HAS_KEEP || keep[c] != 0.0;
}

// Sum of v over the workgroup (v.x and v.y independently).
fn workgroup_sum(v: vec2<f32>, lid: u32) -> vec2<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w = w / 2u) {
    if (lid < w) {
      red[lid] += red[lid + w];
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let C = params.cols;
  let base = row * C;
  var acc = vec2<f32>(0.0);
  for (var c = lid.x; c < C; c += 64u) {
    if (kept(c)) {
      acc += vec2<f32>(x[base + c], 1.0);
    }
  }
  let total = workgroup_sum(acc, lid.x);
  let count = max(total.y, 1.0);
  let mu = total.x / count;
  // Two passes (mean, then squared deviations) avoid the cancellation of E[x²] − E[x]².
  var sq = vec2<f32>(0.0);
  for (var c = lid.x; c < C; c += 64u) {
    if (kept(c)) {
      let d = x[base + c] - mu;
      sq.x += d * d;
    }
  }
  let variance = workgroup_sum(sq, lid.x).x / count;
  let r = inverseSqrt(variance + params.eps);
  for (var c = lid.x; c < C; c += 64u) {
    let i = base + c;
    if (kept(c)) {
      y[i] = (x[i] - mu) * r * gamma[c] + beta[c];
    } else {
      y[i] = x[i];
    }
  }
  if (lid.x == 0u) {
    mean[row] = mu;
    rstd[row] = r;
  }
}
