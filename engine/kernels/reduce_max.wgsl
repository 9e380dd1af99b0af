// Maximum of x viewed as [outer, R, inner] over R, with the index of its first occurrence
// (NaN wins, as in PyTorch). One thread per output (o, i).
struct Params { outputs: u32, R: u32, inner: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> indices: array<i32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let out_index = gid.x + gid.y * nwg.x * 64u;
  if (out_index >= params.outputs) {
    return;
  }
  let o = out_index / params.inner;
  let i = out_index % params.inner;
  let base = o * params.R * params.inner + i;
  var best = x[base];
  var best_r = 0u;
  for (var r = 1u; r < params.R; r++) {
    let v = x[base + r * params.inner];
    if (best == best && (v > best || v != v)) {
      best = v;
      best_r = r;
    }
  }
  values[out_index] = best;
  indices[out_index] = i32(best_r);
}
