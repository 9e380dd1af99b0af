// Elementwise ops of f16 inference, computed in f32 and rounded to f16 once:
//   OP 0: y = a + b, b broadcast over a's leading axes (b has nb elements, a's trailing shape);
//   OP 1: y = GELU(a) (erf form);   OP 2: y = tanh(a).   (b is a placeholder for OP 1, 2.)
enable f16;
#include "lib/math.wgsl"

override OP: u32;
struct Params { n: u32, nb: u32 }
@group(0) @binding(0) var<storage, read> a: array<f16>;
@group(0) @binding(1) var<storage, read> b: array<f16>;
@group(0) @binding(2) var<storage, read_write> y: array<f16>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let v = f32(a[i]);
  switch OP {
    case 0u: { y[i] = f16(v + f32(b[i % params.nb])); }
    case 1u: { y[i] = f16(gelu(v)); }
    default: { y[i] = f16(tanh_safe(v)); }
  }
}
