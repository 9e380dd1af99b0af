// Deterministic scatter-add for index_select: for each distinct index value v (k-th of them),
// dx[o, v, i] = Σ_{s in [seg[k], seg[k+1])} dy[o, perm[s], i], summing in increasing position
// order. perm lists positions sorted by index value (stable) and seg delimits equal values; the
// host builds both from the indices. Rows of dx whose index never occurs are cleared beforehand.
struct Params { n: u32, D: u32, count: u32, inner: u32, distinct: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> perm: array<i32>;
@group(0) @binding(2) var<storage, read> seg: array<i32>;
@group(0) @binding(3) var<storage, read> values: array<i32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= params.n) {
    return;
  }
  let i = e % params.inner;
  let k = (e / params.inner) % params.distinct;
  let o = e / (params.inner * params.distinct);
  var s = 0.0;
  for (var t = seg[k]; t < seg[k + 1u]; t++) {
    s += dy[(o * params.count + u32(perm[t])) * params.inner + i];
  }
  dx[(o * params.D + u32(values[k])) * params.inner + i] = s;
}
