// y[i] = TO(x[i]) between f32 and f16 (templates FROM, TO): weights narrowed for f16 inference
// (to an adjacent f16: the nearest on lavapipe, either by WGSL's rules; callers refuse values past
// f16's ±65504 first, whose conversion WGSL leaves undefined), f16 results widened (exact).
enable f16;

struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<{{FROM}}>;
@group(0) @binding(1) var<storage, read_write> y: array<{{TO}}>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) {
    y[i] = {{TO}}(x[i]);
  }
}
