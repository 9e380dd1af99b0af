// FiniteWatch (engine/finite_watch.ts): flags the first NaN or ±Infinity of one tensor into the
// watch's flag buffer (the protocol is in lib/finite_flag.wgsl; this check has one part).
#include "lib/finite_flag.wgsl"

struct Params { n: u32, serial: u32, step: u32, slot: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> flag: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  finite_flag_value(FiniteCheck(params.serial, params.step, params.slot), params.n, 0u, i, x[i]);
}
