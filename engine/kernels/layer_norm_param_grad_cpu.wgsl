// Partial sums of the layer-norm parameter gradients over blocks of 256 rows, for CPU adapters:
// the CPU variant of layer_norm_param_grad.wgsl (same outputs: dgamma_part[b, c] = Σ dy·x̂ and
// dbeta_part[b, c] = Σ dy over the block's rows, 0 for columns not kept; the host sums the
// blocks). Each invocation owns 4 consecutive columns and walks the block's rows reading vec4s of
// x and dy (one vec4 access per 4 elements; the GPU kernel's one column per thread would make
// every element a separate per-lane load on a CPU driver). Rows whose length is not a multiple
// of 4 go element by element.
override HAS_KEEP: bool = false;
const BLOCK = 256u;

struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> keep: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> dgamma_part: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dbeta_part: array<vec4<f32>>;
@group(0) @binding(7) var<uniform> params: Params;

fn at4(which: u32, i: u32, whole: bool, n: u32) -> vec4<f32> {
  if (whole) {
    if (which == 0u) { return x[i / 4u]; }
    if (which == 1u) { return dy[i / 4u]; }
    return keep[i / 4u];
  }
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < n; t++) {
    let e = i + t;
    if (which == 0u) { v[t] = x[e / 4u][e % 4u]; } else if (which == 1u) { v[t] = dy[e / 4u][e % 4u]; } else { v[t] = keep[e / 4u][e % 4u]; }
  }
  return v;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = 4u * gid.x;
  let C = params.cols;
  if (c >= C) {
    return;
  }
  let whole = C % 4u == 0u;
  let n = min(4u, C - c);
  let b = wid.y;
  var dg = vec4<f32>(0.0);
  var db = vec4<f32>(0.0);
  let r1 = min(params.rows, (b + 1u) * BLOCK);
  for (var row = b * BLOCK; row < r1; row++) {
    let i = row * C + c;
    let g = at4(1u, i, whole, n);
    dg = fma(g, (at4(0u, i, whole, n) - vec4<f32>(mean[row])) * rstd[row], dg);
    db += g;
  }
  if (HAS_KEEP) {
    let k = at4(2u, c, whole, n) != vec4<f32>(0.0);
    dg = select(vec4<f32>(0.0), dg, k);
    db = select(vec4<f32>(0.0), db, k);
  }
  let o = b * C + c;
  if (whole) {
    dgamma_part[o / 4u] = dg;
    dbeta_part[o / 4u] = db;
  } else {
    for (var t = 0u; t < n; t++) {
      let e = o + t;
      dgamma_part[e / 4u][e % 4u] = dg[t];
      dbeta_part[e / 4u][e % 4u] = db[t];
    }
  }
}
