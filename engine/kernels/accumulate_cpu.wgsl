// dst += src in place for CPU adapters: the CPU variant of accumulate.wgsl, V vec4s per
// invocation (unary_cpu.wgsl explains why).
const V = 4u;
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (gid.x + gid.y * nwg.x * 64u) * V;
  let n4 = (params.n + 3u) / 4u;
  for (var j = 0u; j < V; j++) {
    let i = first + j;
    if (i >= n4) { break; }
    let out = dst[i] + src[i];
    if (4u * i + 3u < params.n) {
      dst[i] = out;
    } else {
      for (var t = 0u; 4u * i + t < params.n; t++) { dst[i][t] = out[t]; }
    }
  }
}
