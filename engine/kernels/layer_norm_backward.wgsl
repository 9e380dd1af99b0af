// dx of layer norm, one workgroup per row: with x̂ = (x − μ)·rstd and g = dy·gamma over the
// kept columns (n of them), dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)); other columns pass
// dy through (they passed x through).
override HAS_KEEP: bool = false;

struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> keep: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

var<workgroup> red: array<vec3<f32>, 64>;

fn kept(c: u32) -> bool {
  return !HAS_KEEP || keep[c] != 0.0;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let C = params.cols;
  let base = row * C;
  let mu = mean[row];
  let r = rstd[row];
  var acc = vec3<f32>(0.0);
  for (var c = lid.x; c < C; c += 64u) {
    if (kept(c)) {
      let g = dy[base + c] * gamma[c];
      let xhat = (x[base + c] - mu) * r;
      acc += vec3<f32>(g, g * xhat, 1.0);
    }
  }
  red[lid.x] = acc;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w = w / 2u) {
    if (lid.x < w) {
      red[lid.x] += red[lid.x + w];
    }
    workgroupBarrier();
  }
  let n = max(red[0].z, 1.0);
  let mean_g = red[0].x / n;
  let mean_gx = red[0].y / n;
  for (var c = lid.x; c < C; c += 64u) {
    let i = base + c;
    if (kept(c)) {
      let xhat = (x[i] - mu) * r;
      dx[i] = r * (dy[i] * gamma[c] - mean_g - xhat * mean_gx);
    } else {
      dx[i] = dy[i];
    }
  }
}
