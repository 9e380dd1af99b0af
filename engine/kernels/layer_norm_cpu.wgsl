// Layer norm over the last axis for CPU adapters: the CPU variant of layer_norm.wgsl (same
// bindings, parameters and outputs: y, and per row μ and 1/√(σ² + eps); HAS_KEEP normalises the
// kept columns only and passes the others through).
//
// Design. layer_norm.wgsl reduces each row with a 64-thread workgroup through workgroup memory and
// barriers, which a CPU driver runs as coroutine switches (0.36 GB/s measured on lavapipe). Here
// each invocation owns a row (rows across the SIMD lanes), without barriers:
//   pass 1: mean and M2 of the row in one read, by Welford's update per vec4 component (numerically
//           stable, unlike E[x²] − E[x]²), the four components merged with Chan et al.'s formula;
//   pass 2: y = (x − μ)·r·gamma + beta, written as vec4s.
// gamma, beta and keep are the same for every row, so instead of every lane loading them, lane l
// of a subgroup loads vec4 l of each block of SG vec4s and the others read it with subgroupShuffle
// (a register permute): per element that is 1/SG of a load instead of one. Lanes past the last row
// work on a clamped row and store nothing (the shuffles need every lane of the subgroup). Rows
// whose length is not a multiple of 4 are read element by element.
// On a GPU the row-per-workgroup kernel (layer_norm.wgsl) stays the right shape: its barriers are
// cheap hardware operations, and 64 threads per row keep a row's loads coalesced, where one
// thread per row would read addresses a whole row apart; the engine keeps it as the GPU variant,
// so the GPU loses nothing to this one.
enable subgroups;

override HAS_KEEP: bool = false;
const SG = {{SG}}u;

struct Params { rows: u32, cols: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gamma: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> beta: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> keep: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

fn x4(base: u32, c: u32, whole: bool) -> vec4<f32> {
  if (whole) { return x[(base + c) / 4u]; }
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < 4u && c + t < params.cols; t++) { let e = base + c + t; v[t] = x[e / 4u][e % 4u]; }
  return v;
}

// Vec4 `c4` of a per-column parameter (c4 < ⌈cols/4⌉), elements past cols 0.
fn param4(which: u32, c4: u32, whole: bool) -> vec4<f32> {
  if (c4 * 4u >= params.cols) { return vec4<f32>(0.0); }
  if (whole) {
    if (which == 0u) { return gamma[c4]; }
    if (which == 1u) { return beta[c4]; }
    return keep[c4];
  }
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < 4u && 4u * c4 + t < params.cols; t++) {
    let e = 4u * c4 + t;
    if (which == 0u) { v[t] = gamma[e / 4u][e % 4u]; } else if (which == 1u) { v[t] = beta[e / 4u][e % 4u]; } else { v[t] = keep[e / 4u][e % 4u]; }
  }
  return v;
}

fn shuffle4(v: vec4<f32>, lane: u32) -> vec4<f32> {
  return vec4<f32>(subgroupShuffle(v.x, lane), subgroupShuffle(v.y, lane), subgroupShuffle(v.z, lane), subgroupShuffle(v.w, lane));
}

// 1 where column c + t is kept and inside the row, else 0.
fn kept4(k: vec4<f32>, c: u32) -> vec4<f32> {
  var w = select(vec4<f32>(0.0), vec4<f32>(1.0), vec4<u32>(c) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(params.cols));
  if (HAS_KEEP) { w = select(vec4<f32>(0.0), w, k != vec4<f32>(0.0)); }
  return w;
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

  // Pass 1: Welford per component.
  var n4 = vec4<f32>(0.0);
  var mean4 = vec4<f32>(0.0);
  var m2 = vec4<f32>(0.0);
  for (var b = 0u; b < C4; b += SG) {
    var kl = vec4<f32>(1.0);
    if (HAS_KEEP) { kl = param4(2u, b + lane, whole); }
    for (var j = 0u; j < SG && b + j < C4; j++) {
      let c = 4u * (b + j);
      var w: vec4<f32>;
      if (HAS_KEEP) { w = kept4(shuffle4(kl, j), c); } else { w = kept4(vec4<f32>(1.0), c); }
      let v = x4(base, c, whole);
      n4 += w;
      let d = v - mean4;
      mean4 += w * d / max(n4, vec4<f32>(1.0));
      m2 += w * d * (v - mean4);
    }
  }
  let n = (n4.x + n4.y) + (n4.z + n4.w);
  let count = max(n, 1.0);
  let mu = dot(n4, mean4) / count;
  let dm = mean4 - vec4<f32>(mu);
  let variance = ((m2.x + m2.y) + (m2.z + m2.w) + dot(n4, dm * dm)) / count;
  let r = inverseSqrt(variance + params.eps);

  // Pass 2: normalise, scale, shift.
  for (var b = 0u; b < C4; b += SG) {
    let gl = param4(0u, b + lane, whole);
    let bl = param4(1u, b + lane, whole);
    var kl = vec4<f32>(1.0);
    if (HAS_KEEP) { kl = param4(2u, b + lane, whole); }
    for (var j = 0u; j < SG && b + j < C4; j++) {
      let c = 4u * (b + j);
      let v = x4(base, c, whole);
      var out = (v - vec4<f32>(mu)) * r * shuffle4(gl, j) + shuffle4(bl, j);
      if (HAS_KEEP) { out = select(v, out, shuffle4(kl, j) != vec4<f32>(0.0)); }
      if (live) {
        if (whole) {
          y[(base + c) / 4u] = out;
        } else {
          for (var t = 0u; t < 4u && c + t < C; t++) { let e = base + c + t; y[e / 4u][e % 4u] = out[t]; }
        }
      }
    }
  }
  if (live) {
    mean[row] = mu;
    rstd[row] = r;
  }
}
