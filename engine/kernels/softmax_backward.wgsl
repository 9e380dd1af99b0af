// Gradient of softmax (dx = y ⊙ (dy − Σ dy⊙y)) or of log-softmax (dx = dy − exp(y) Σ dy)
// over the last axis, from the forward output y. One workgroup per row.
#include "lib/workgroup_reduce.wgsl"

override LOG: bool = false;

struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let base = row * params.cols;
  var s = 0.0;
  for (var c = lid.x; c < params.cols; c += 64u) {
    if (LOG) {
      s += dy[base + c];
    } else {
      s += dy[base + c] * y[base + c];
    }
  }
  s = workgroup_sum(s, lid.x);
  for (var c = lid.x; c < params.cols; c += 64u) {
    let i = base + c;
    if (LOG) {
      dx[i] = dy[i] - exp(y[i]) * s;
    } else {
      dx[i] = y[i] * (dy[i] - s);
    }
  }
}
