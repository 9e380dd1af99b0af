// Sums of x viewed as [outer, R, inner] over R, for wide `inner`: one thread per output (o, i)
// and chunk of R, so that neighbouring threads read neighbouring addresses.
// partial[(c * outer + o) * inner + i] = scale * Σ_{r in chunk c} x[(o * R + r) * inner + i].
struct Params { outer: u32, R: u32, inner: u32, chunk: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = gid.x;
  if (i >= params.inner) {
    return;
  }
  let o = wid.y;
  let r0 = wid.z * params.chunk;
  let r1 = min(params.R, r0 + params.chunk);
  var s = 0.0;
  for (var r = r0; r < r1; r++) {
    s += x[(o * params.R + r) * params.inner + i];
  }
  partial[(wid.z * params.outer + o) * params.inner + i] = s * params.scale;
}
