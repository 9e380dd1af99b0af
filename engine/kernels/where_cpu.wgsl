// out = cond != 0 ? a : b with broadcasting, for CPU adapters: the CPU variant of where.wgsl,
// read as binary_cpu.wgsl reads its operands (lib/strided_vec4.wgsl), V output vec4s per invocation.
#include "lib/strided_vec4.wgsl"

const V = 4u;
struct Params {
  n: u32,
  rank: u32,
  vec4_rows: u32,
  cond_mode: u32,
  a_mode: u32,
  b_mode: u32,
  shape: array<vec4<u32>, 2>,
  cond_strides: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> cond: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: Params;

// Elements e .. e+3 of operand `which` (0 cond, 1 a, 2 b).
fn load(which: u32, e: u32) -> vec4<f32> {
  var mode = params.cond_mode;
  var strides = params.cond_strides;
  if (which == 1u) { mode = params.a_mode; strides = params.a_strides; }
  if (which == 2u) { mode = params.b_mode; strides = params.b_strides; }
  if (params.vec4_rows != 0u && mode != MODE_ELEMENTS) {
    let off = strided_offset(e, params.rank, params.shape, strides);
    var v: vec4<f32>;
    if (which == 0u) { v = cond[off / 4u]; } else if (which == 1u) { v = a[off / 4u]; } else { v = b[off / 4u]; }
    if (mode == MODE_VEC4) { return v; }
    return vec4<f32>(v[off % 4u]);
  }
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u && e + t < params.n; t++) {
    let off = strided_offset(e + t, params.rank, params.shape, strides);
    if (which == 0u) { r[t] = cond[off / 4u][off % 4u]; } else if (which == 1u) { r[t] = a[off / 4u][off % 4u]; } else { r[t] = b[off / 4u][off % 4u]; }
  }
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (gid.x + gid.y * nwg.x * 64u) * V;
  let n4 = (params.n + 3u) / 4u;
  for (var j = 0u; j < V; j++) {
    let i = first + j;
    if (i >= n4) { break; }
    let v = select(load(2u, 4u * i), load(1u, 4u * i), load(0u, 4u * i) != vec4<f32>(0.0));
    if (4u * i + 3u < params.n) {
      out[i] = v;
    } else {
      for (var t = 0u; 4u * i + t < params.n; t++) { out[i][t] = v[t]; }
    }
  }
}
