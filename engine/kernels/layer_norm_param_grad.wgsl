// Partial sums of the layer-norm parameter gradients over blocks of 256 rows:
// dgamma_part[b, c] = Σ_rows dy·x̂ and dbeta_part[b, c] = Σ_rows dy (0 for columns not kept).
// The host sums the blocks. Thread per (column, row block): neighbouring threads read
// neighbouring columns.
override HAS_KEEP: bool = false;

struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> keep: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma_part: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta_part: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

const BLOCK = 256u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.cols) {
    return;
  }
  let b = wid.y;
  var dg = 0.0;
  var db = 0.0;
  if (!HAS_KEEP || keep[c] != 0.0) {
    let r1 = min(params.rows, (b + 1u) * BLOCK);
    for (var row = b * BLOCK; row < r1; row++) {
      let i = row * params.cols + c;
      let g = dy[i];
      dg += g * (x[i] - mean[row]) * rstd[row];
      db += g;
    }
  }
  dgamma_part[b * params.cols + c] = dg;
  dbeta_part[b * params.cols + c] = db;
}
