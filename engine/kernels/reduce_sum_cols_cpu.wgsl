// Sums of x viewed as [outer, R, inner] over R, for wide `inner`, on CPU adapters: the CPU variant
// of reduce_sum_cols.wgsl (same parameters and output layout:
// partial[(c·outer + o)·inner + i] = scale · Σ_{r in chunk c} x[(o·R + r)·inner + i]).
// Each invocation owns 4 consecutive columns and reads them as one vec4 per row when inner is a
// multiple of 4 (on a CPU driver an access is a per-lane loop: 4 columns per access instead of 1).
struct Params { outer: u32, R: u32, inner: u32, chunk: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partial: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = 4u * gid.x;
  let inner = params.inner;
  if (i >= inner) {
    return;
  }
  let o = wid.y;
  let r0 = wid.z * params.chunk;
  let r1 = min(params.R, r0 + params.chunk);
  let whole = inner % 4u == 0u;
  var s = vec4<f32>(0.0);
  for (var r = r0; r < r1; r++) {
    let e = (o * params.R + r) * inner + i;
    if (whole) {
      s += x[e / 4u];
    } else {
      for (var t = 0u; t < 4u && i + t < inner; t++) { s[t] += x[(e + t) / 4u][(e + t) % 4u]; }
    }
  }
  s *= params.scale;
  let out = (wid.z * params.outer + o) * inner + i;
  if (whole) {
    partial[out / 4u] = s;
  } else {
    for (var t = 0u; t < 4u && i + t < inner; t++) { partial[(out + t) / 4u][(out + t) % 4u] = s[t]; }
  }
}
