// The parameters of the AdamW kernels (adamw.wgsl, adamw_cpu.wgsl: the math is in adamw.wgsl's
// header), their uniform and FiniteWatch flag bindings, and the check their writes are recorded
// under (lib/finite_flag.wgsl; watch_serial 0: no watch).
#include "lib/finite_flag.wgsl"

struct Params {
  n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32, bc1: f32, bc2: f32,
  // 1 − β1 and 1 − β2 from the host in float64: 1 − 0.999 in f32 is off by 1.3e-5 (0.999 rounds
  // to 0.99900001), which scaled v by that much and every update by half of it.
  one_minus_beta1: f32, one_minus_beta2: f32,
  watch_serial: u32, watch_step: u32, watch_slot: u32,
}
@group(0) @binding(5) var<uniform> params: Params;
@group(0) @binding(6) var<storage, read_write> flag: array<atomic<u32>>;

fn adamw_check() -> FiniteCheck {
  return FiniteCheck(params.watch_serial, params.watch_step, params.watch_slot);
}
