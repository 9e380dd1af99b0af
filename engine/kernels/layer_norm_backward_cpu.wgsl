// dx of layer norm for CPU adapters: the CPU variant of layer_norm_backward.wgsl (same math:
// with x̂ = (x − μ)·rstd and g = dy·gamma over the n kept columns,
// dx = rstd·(g − mean(g) − x̂·mean(g ⊙ x̂)); other columns pass dy through).
// One row per invocation, no barrier; pass 1 sums over the row, pass 2 writes dx; vec4 accesses,
// and gamma / keep shared across the subgroup by shuffles (layer_norm_cpu.wgsl explains the design).
enable subgroups;

override HAS_KEEP: bool = false;
const SG = {{SG}}u;

struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gamma: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> keep: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(7) var<uniform> params: Params;

fn row4(which: u32, base: u32, c: u32, whole: bool) -> vec4<f32> {
  if (whole) {
    if (which == 0u) { return x[(base + c) / 4u]; }
    return dy[(base + c) / 4u];
  }
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < 4u && c + t < params.cols; t++) {
    let e = base + c + t;
    if (which == 0u) { v[t] = x[e / 4u][e % 4u]; } else { v[t] = dy[e / 4u][e % 4u]; }
  }
  return v;
}

fn param4(which: u32, c4: u32, whole: bool) -> vec4<f32> {
  if (c4 * 4u >= params.cols) { return vec4<f32>(0.0); }
  if (whole) {
    if (which == 0u) { return gamma[c4]; }
    return keep[c4];
  }
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < 4u && 4u * c4 + t < params.cols; t++) {
    let e = 4u * c4 + t;
    if (which == 0u) { v[t] = gamma[e / 4u][e % 4u]; } else { v[t] = keep[e / 4u][e % 4u]; }
  }
  return v;
}

fn shuffle4(v: vec4<f32>, lane: u32) -> vec4<f32> {
  return vec4<f32>(subgroupShuffle(v.x, lane), subgroupShuffle(v.y, lane), subgroupShuffle(v.z, lane), subgroupShuffle(v.w, lane));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let row_id = gid.x + gid.y * nwg.x * 64u;
  let live = row_id < params.rows;
  let row = min(row_id, params.rows - 1u);
  let C = params.cols;
  let C4 = (C + 3u) / 4u;
  let base = row * C;
  let whole = C % 4u == 0u;
  let mu = mean[row];
  let r = rstd[row];

  var sg = vec4<f32>(0.0);
  var sgx = vec4<f32>(0.0);
  var n4 = vec4<f32>(0.0);
  for (var b = 0u; b < C4; b += SG) {
    let gl = param4(0u, b + lane, whole);
    var kl = vec4<f32>(1.0);
    if (HAS_KEEP) { kl = param4(1u, b + lane, whole); }
    for (var j = 0u; j < SG && b + j < C4; j++) {
      let c = 4u * (b + j);
      var w = select(vec4<f32>(0.0), vec4<f32>(1.0), vec4<u32>(c) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(C));
      if (HAS_KEEP) { w = select(vec4<f32>(0.0), w, shuffle4(kl, j) != vec4<f32>(0.0)); }
      let g = row4(1u, base, c, whole) * shuffle4(gl, j) * w;
      let xhat = (row4(0u, base, c, whole) - vec4<f32>(mu)) * r;
      sg += g;
      sgx += g * xhat;
      n4 += w;
    }
  }
  let n = max((n4.x + n4.y) + (n4.z + n4.w), 1.0);
  let mean_g = ((sg.x + sg.y) + (sg.z + sg.w)) / n;
  let mean_gx = ((sgx.x + sgx.y) + (sgx.z + sgx.w)) / n;

  for (var b = 0u; b < C4; b += SG) {
    let gl = param4(0u, b + lane, whole);
    var kl = vec4<f32>(1.0);
    if (HAS_KEEP) { kl = param4(1u, b + lane, whole); }
    for (var j = 0u; j < SG && b + j < C4; j++) {
      let c = 4u * (b + j);
      let d = row4(1u, base, c, whole);
      let xhat = (row4(0u, base, c, whole) - vec4<f32>(mu)) * r;
      var out = r * (d * shuffle4(gl, j) - vec4<f32>(mean_g) - xhat * mean_gx);
      if (HAS_KEEP) { out = select(d, out, shuffle4(kl, j) != vec4<f32>(0.0)); }
      if (live) {
        if (whole) {
          dx[(base + c) / 4u] = out;
        } else {
          for (var t = 0u; t < 4u && c + t < C; t++) { let e = base + c + t; dx[e / 4u][e % 4u] = out[t]; }
        }
      }
    }
  }
}
