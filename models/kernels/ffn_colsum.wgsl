// Column sums of a [rows, ·] matrix with row stride ld, for the masked FFN's bias and z gradients:
//   out[unit(r)] = Σ_m src[m · ld + r]   for r < cols,
// where cols is units[0] when `count` is set (else the uniform) and unit(r) = units[1 + r] when
// `scatter` is set (else r); other entries of out are left as they are (the caller zeroes them).
// A workgroup of 256 threads takes 64 columns: 4 threads per column stride over the rows and
// combine in a fixed order, so the sums are deterministic; reads of a row are contiguous.
struct Params { rows: u32, cols: u32, ld: u32, count: u32, scatter: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> units: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  var cols = params.cols;
  if (params.count != 0u) {
    cols = units[0];
  }
  let r0 = wid.x * 64u;
  if (r0 >= cols) {
    return;
  }
  let r = r0 + li % 64u;
  let lane = li / 64u;
  var s = 0.0;
  if (r < cols) {
    for (var m = lane; m < params.rows; m += 4u) {
      s += src[m * params.ld + r];
    }
  }
  part[li] = s;
  workgroupBarrier();
  if (lane == 0u && r < cols) {
    let total = (part[li] + part[li + 64u]) + (part[li + 128u] + part[li + 192u]);
    var u = r;
    if (params.scatter != 0u) {
      u = units[1u + r];
    }
    out[u] = total;
  }
}
