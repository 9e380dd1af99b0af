// Hard-concrete samples (Louizos, Welling, Kingma 2018, §4; CoFi's L0Module._sample_z):
//   u ~ U(ε, 1 − ε)                       (Philox: u = ε + (1 − 2ε)·u01)
//   s = sigmoid((log u − log(1 − u) + log_alpha) / β)
//   z = clamp(s·(r − l) + l, 0, 1)
// and the derivative dz/dlog_alpha = (r − l)·s(1 − s)/β where 0 < s·(r − l) + l < 1, else 0
// (the clamp passes no gradient at its bounds, as PyTorch's hardtanh).
#include "lib/philox.wgsl"
#include "lib/math.wgsl"

struct Params { n: u32, beta: f32, l: f32, r: f32, eps: f32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> log_alpha: array<f32>;
@group(0) @binding(1) var<storage, read_write> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> dz: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= params.n) {
    return;
  }
  let u = params.eps + (1.0 - 2.0 * params.eps) * philox_uniform(params.key, i);
  let s = sigmoid((log(u) - log(1.0 - u) + log_alpha[i]) / params.beta);
  let stretched = s * (params.r - params.l) + params.l;
  z[i] = clamp(stretched, 0.0, 1.0);
  dz[i] = select(0.0, (params.r - params.l) * s * (1.0 - s) / params.beta, stretched > 0.0 && stretched < 1.0);
}
