// The output of a hidden_z-masked post-LN residual (models/ops/residual_output.ts), one pass:
//   y = out + x       when Σ|out| = 0 (the sub-layer is pruned away: CoFi passes x through)
//   y = ln ⊙ hz       otherwise (hz broadcast over rows of width `width`; 1 without hz)
// It replaces mul, abs-sum compare (fill, eq), add and where: five dispatches and four passes over
// the activations. abs_sum is the one-element Σ|out| from the op's reduction. One element per
// invocation: elementwise and memory-bound, the same code serves CPU and GPU adapters.
override HAS_HZ: u32 = 1u;
struct Params { n: u32, width: u32 }
@group(0) @binding(0) var<storage, read> ln: array<f32>;
@group(0) @binding(1) var<storage, read> hz: array<f32>;
@group(0) @binding(2) var<storage, read> sub_out: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> abs_sum: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= params.n) {
    return;
  }
  if (abs_sum[0] == 0.0) {
    y[i] = sub_out[i] + x[i];
  } else if (HAS_HZ != 0u) {
    y[i] = ln[i] * hz[i % params.width];
  } else {
    y[i] = ln[i];
  }
}
