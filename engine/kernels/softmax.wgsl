// y = softmax(x + mask) over the last axis, or log-softmax when LOG. One workgroup per row.
// The additive mask broadcasts over the leading axes (strides 0 where broadcast; e.g. an
// attention mask [B, 1, 1, S] against scores [B, H, S, S]); its last axis is `cols` or 1.
#include "lib/strided.wgsl"
#include "lib/workgroup_reduce.wgsl"

override LOG: bool = false;
override HAS_MASK: bool = false;

struct Params {
  rows: u32,
  cols: u32,
  lead_rank: u32,
  mask_cols: u32,
  lead_shape: array<vec4<u32>, 2>,
  mask_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn masked(row_base: u32, mask_base: u32, c: u32) -> f32 {
  var v = x[row_base + c];
  if (HAS_MASK) {
    v += mask[mask_base + select(c, 0u, params.mask_cols == 1u)];
  }
  return v;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let C = params.cols;
  let base = row * C;
  var mask_base = 0u;
  if (HAS_MASK) {
    mask_base = strided_offset(row, params.lead_rank, params.lead_shape, params.mask_strides);
  }

  var m = -3.4028234e38;
  for (var c = lid.x; c < C; c += 64u) {
    m = max(m, masked(base, mask_base, c));
  }
  m = workgroup_max(m, lid.x);

  var s = 0.0;
  for (var c = lid.x; c < C; c += 64u) {
    s += exp(masked(base, mask_base, c) - m);
  }
  s = workgroup_sum(s, lid.x);

  let log_s = log(s);
  for (var c = lid.x; c < C; c += 64u) {
    let v = masked(base, mask_base, c) - m;
    if (LOG) {
      y[base + c] = v - log_s;
    } else {
      y[base + c] = exp(v) / s;
    }
  }
}
