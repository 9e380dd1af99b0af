// dx[o, r, i] = r == argmax[o, i] ? dy[o, i] : 0 for x viewed as [outer, R, inner].
struct Params { n: u32, R: u32, inner: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= params.n) {
    return;
  }
  let i = idx % params.inner;
  let r = (idx / params.inner) % params.R;
  let o = idx / (params.inner * params.R);
  let out_index = o * params.inner + i;
  dx[idx] = select(0.0, dy[out_index], u32(indices[out_index]) == r);
}
