// Gradient of the fused attention with respect to head_z (models/ops/masked_attention.ts):
//   dz_h = Σ_{b, i, c} dO[b, i, h·D + c] · C[b, i, h·D + c] = Σ_{b, i} Δ[b, h, i] / z_h,
// since O = z_h C and Δ = Σ_c dO ⊙ O (from attention_backward_dq.wgsl). For z_h = 0 it is 0:
// z = 0 is exactly where a hard-concrete sample is clamped, so dz/dlog_alpha = 0 there and the
// value never reaches a parameter (and C is not computed for skipped heads).
// One workgroup per head; 64 threads stride over the B·S rows and combine in a fixed tree, so
// the sum is deterministic.
struct Params { B: u32, S: u32, heads: u32 }
@group(0) @binding(0) var<storage, read> delta: array<f32>;
@group(0) @binding(1) var<storage, read> headz: array<f32>;
@group(0) @binding(2) var<storage, read_write> dz: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> sums: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let head = wid.x;
  let S = params.S;
  var s = 0.0;
  for (var r = li; r < params.B * S; r += 64u) {
    let b = r / S;
    s += delta[(b * params.heads + head) * S + r % S];
  }
  sums[li] = s;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w = w / 2u) {
    if (li < w) {
      sums[li] += sums[li + w];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    let z = headz[head];
    dz[head] = select(sums[0] / z, 0.0, z == 0.0);
  }
}
