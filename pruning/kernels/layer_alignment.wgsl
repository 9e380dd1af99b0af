// CoFi's layer-distillation alignment (trainer.py, layer_distill_version 4): teacher layers are
// matched, from the last to the first, each to the student layer with the smallest loss among
// existing student layers below the previous match (or, when none is left, to that previous match).
// losses is [T, L] (teacher layer t against student layer l); exists[l] ≠ 0 for student layers whose
// attention is kept. Writes a 0/1 selection [T, L]. One thread: T and L are small.
struct Params { T: u32, L: u32 }
@group(0) @binding(0) var<storage, read> losses: array<f32>;
@group(0) @binding(1) var<storage, read> exists: array<f32>;
@group(0) @binding(2) var<storage, read_write> selection: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(1)
fn main() {
  let T = params.T;
  let L = params.L;
  for (var i = 0u; i < T * L; i++) {
    selection[i] = 0.0;
  }
  var last = L;
  for (var k = 0u; k < T; k++) {
    let t = T - 1u - k;
    var best = last;
    var best_loss = 0.0;
    for (var l = 0u; l < last; l++) {
      if (exists[l] != 0.0) {
        let v = losses[t * L + l];
        if (best == last || v < best_loss) {
          best = l;
          best_loss = v;
        }
      }
    }
    // With no candidate CoFi aligns to `last` itself, which is out of range for the first teacher
    // layer searched (L): that teacher layer then contributes nothing.
    if (best < L) {
      selection[t * L + best] = 1.0;
    }
    last = best;
  }
}
