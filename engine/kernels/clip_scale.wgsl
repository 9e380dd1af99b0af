// Global-norm gradient clipping factor (Pascanu et al. 2013), from the squared norms of all
// gradients: norm = √Σ sq, scale = min(1, max_norm / (norm + 1e-6)) as PyTorch's
// clip_grad_norm_. Writes [scale, norm]. One thread; the inputs are one value per parameter.
struct Params { count: u32, max_norm: f32 }
@group(0) @binding(0) var<storage, read> sq: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(1)
fn main() {
  var total = 0.0;
  for (var i = 0u; i < params.count; i++) {
    total += sq[i];
  }
  let norm = sqrt(total);
  out[0] = min(1.0, params.max_norm / (norm + 1e-6));
  out[1] = norm;
}
