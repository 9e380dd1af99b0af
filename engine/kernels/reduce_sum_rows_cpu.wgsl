// Sums of x viewed as [outer, R, inner] over R, for small `inner`, on CPU adapters: the CPU variant
// of reduce_sum_rows.wgsl (same parameters and partial-sum layout:
// partial[(o·inner + i)·chunks + c] = scale · Σ_{r in chunk c} x[(o·R + r)·inner + i]).
// One invocation per (output, chunk) walks its chunk alone, as vec4s when the rows are contiguous
// (inner = 1, R a multiple of 4): no workgroup tree and no barrier, which on a CPU driver cost more
// than the additions (see softmax_cpu.wgsl). Chunks are long (4096 elements) so outputs × chunks
// invocations still fill the SIMD lanes of a large sum.
struct Params { outputs: u32, R: u32, inner: u32, chunk: u32, scale: f32, chunks: u32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let job = gid.x + gid.y * nwg.x * 64u;
  if (job >= params.outputs * params.chunks) {
    return;
  }
  let out_index = job / params.chunks;
  let c = job % params.chunks;
  let o = out_index / params.inner;
  let i = out_index % params.inner;
  let r0 = c * params.chunk;
  let r1 = min(params.R, r0 + params.chunk);
  var s4 = vec4<f32>(0.0);
  if (params.inner == 1u && params.R % 4u == 0u && params.chunk % 4u == 0u) {
    let base = o * params.R;
    for (var r = r0; r < r1; r += 4u) {
      s4 += x[(base + r) / 4u];
    }
  } else {
    var s = 0.0;
    for (var r = r0; r < r1; r++) {
      let e = (o * params.R + r) * params.inner + i;
      s += x[e / 4u][e % 4u];
    }
    s4.x = s;
  }
  partial[out_index * params.chunks + c] = ((s4.x + s4.y) + (s4.z + s4.w)) * params.scale;
}
