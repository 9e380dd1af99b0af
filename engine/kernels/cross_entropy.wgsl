// Per-row cross-entropy from logits [N, C] and integer labels [N], one workgroup per row:
// lse = log Σ exp(x), loss = lse − x[label], valid = 1; rows whose label is ignore_index give
// loss 0 and valid 0; a label outside [0, C) gives NaN (visible, as PyTorch would raise).
#include "lib/math.wgsl"
#include "lib/workgroup_reduce.wgsl"

struct Params { rows: u32, cols: u32, ignore_index: i32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> losses: array<f32>;
@group(0) @binding(3) var<storage, read_write> valid: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let base = row * params.cols;
  var m = -3.4028234e38;
  for (var c = lid.x; c < params.cols; c += 64u) {
    m = max(m, logits[base + c]);
  }
  m = workgroup_max(m, lid.x);
  var s = 0.0;
  for (var c = lid.x; c < params.cols; c += 64u) {
    s += exp(logits[base + c] - m);
  }
  s = workgroup_sum(s, lid.x);
  if (lid.x == 0u) {
    let l = m + log(s);
    lse[row] = l;
    let label = labels[row];
    if (label == params.ignore_index) {
      losses[row] = 0.0;
      valid[row] = 0.0;
    } else if (label < 0 || u32(label) >= params.cols) {
      losses[row] = nan_f32();
      valid[row] = 1.0;
    } else {
      losses[row] = l - logits[base + u32(label)];
      valid[row] = 1.0;
    }
  }
}
