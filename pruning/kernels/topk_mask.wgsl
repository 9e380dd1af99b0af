// The exact top-k mask (pruning/element/topk.ts): after the seven radix-select passes the prefix
// state[0..1] is the k-th largest key; mask = 1 where key ≥ it (exactly k elements), else 0.
#include "lib/topk_key.wgsl"

struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> scores: array<f32>;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> mask: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) { return; }
  let hi = topk_ordered_bits(scores[i]);
  let lo = topk_key_lo(i);
  let t_hi = state[0];
  let t_lo = state[1];
  if (hi > t_hi || (hi == t_hi && lo >= t_lo)) { mask[i] = 1.0; } else { mask[i] = 0.0; }
}
