// dx[o, d, i] = Σ_j [idx[o, j, i] = d] · dy[o, j, i], one thread per element of x, summing in
// increasing j (deterministic; cost D·J per column, meant for small J such as label picks).
struct Params { n: u32, D: u32, J: u32, inner: u32 }
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= params.n) {
    return;
  }
  let i = e % params.inner;
  let d = i32((e / params.inner) % params.D);
  let o = e / (params.inner * params.D);
  var s = 0.0;
  for (var j = 0u; j < params.J; j++) {
    let at = (o * params.J + j) * params.inner + i;
    if (idx[at] == d) {
      s += dy[at];
    }
  }
  dx[e] = s;
}
