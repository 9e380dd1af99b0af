// Partial sums of squares of one tensor for gradient clipping on CPU adapters:
//   partials[offset + j] = Σ x[e]² over the elements e of block j (BLOCK vec4s per invocation).
// clip_scale_cpu.wgsl then adds all partials of all tensors. It replaces the GPU path's square +
// reduction + concatenation per parameter (three dispatches and a temporary each) with one
// dispatch that reads each element once as part of a vec4 (see adamw_cpu.wgsl on why vec4s).
// Elements past n in the last vec4 count as 0.
const BLOCK = {{BLOCK}}u;

struct Params { n: u32, offset: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * 64u;
  let n4 = (params.n + 3u) / 4u;
  let first = j * BLOCK;
  if (first >= n4) {
    return;
  }
  var s = vec4<f32>(0.0);
  let last = min(first + BLOCK, n4);
  for (var i = first; i < last; i++) {
    var e = x[i];
    if (4u * i + 3u >= params.n) {
      e = select(vec4<f32>(0.0), e, vec4<u32>(4u * i) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(params.n));
    }
    s = fma(e, e, s);
  }
  partials[params.offset + j] = (s.x + s.y) + (s.z + s.w);
}
