// The input of a hidden_z-masked post-LN residual (models/ops/residual_input.ts), one pass:
//   y = dropout(out ⊙ hz) + x
// with dropout.wgsl's mask (element i kept when the i-th Philox uniform under `key` is ≥ p, i.e.
// component i % 4 of block i / 4) and scale 1/(1 − p); p = 0 keeps everything. hz is broadcast over
// rows of width `width` (1 without hz). Replaces mul, dropout and add: three dispatches, two
// passes over the activations. One Philox block (four elements) per invocation, scalar accesses
// (hz's width need not be a multiple of 4): memory-bound, the same code serves CPU and GPU adapters.
#include "lib/philox.wgsl"

override HAS_HZ: u32 = 1u;
struct Params { n: u32, width: u32, p: f32, scale: f32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> sub_out: array<f32>;
@group(0) @binding(1) var<storage, read> hz: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let blk = gid.x + gid.y * nwg.x * 64u;
  if (4u * blk >= params.n) {
    return;
  }
  let u = philox_uniform4(params.key, blk);
  for (var t = 0u; t < 4u; t++) {
    let i = 4u * blk + t;
    if (i >= params.n) { break; }
    var v = sub_out[i];
    if (HAS_HZ != 0u) { v = v * hz[i % params.width]; }
    y[i] = select(0.0, v * params.scale, u[t] >= params.p) + x[i];
  }
}
