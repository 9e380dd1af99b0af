// Copies the active units' weights into compact buffers for the masked FFN on CPU adapters
// (models/ops/masked_ffn.ts), so that its GEMMs load them as plain vec4s instead of looking every
// row or column up in the unit list inside the k loop (where a listed FFN ran at half the speed of
// an unlisted one of the same size on lavapipe):
//   mode 0, rows:    dst[r·ld_dst + c] = src[unit(r)·ld_src + c]   (w1 [I, H] → rows of active units)
//   mode 1, columns: dst[h·ld_dst + r] = src[h·ld_src + unit(r)]   (w2 [H, I] → columns of active units)
// for r < count = units[0]; entries of dst past the count are not written (the GEMMs never read
// them: their counted dimension stops there). One invocation copies 4 consecutive destination
// elements of one row (elements per invocation cut the per-lane index work on a CPU driver).
struct Params { rows: u32, cols: u32, ld_src: u32, ld_dst: u32, mode: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> units: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let groups = (params.cols + 3u) / 4u;
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= params.rows * groups) {
    return;
  }
  let row = i / groups;
  let c0 = (i % groups) * 4u;
  let count = units[0];
  if (params.mode == 0u) {
    if (row >= count) {
      return;
    }
    let src_row = units[1u + row] * params.ld_src;
    for (var t = 0u; t < 4u && c0 + t < params.cols; t++) {
      dst[row * params.ld_dst + c0 + t] = src[src_row + c0 + t];
    }
  } else {
    for (var t = 0u; t < 4u && c0 + t < min(params.cols, count); t++) {
      dst[row * params.ld_dst + c0 + t] = src[row * params.ld_src + units[1u + c0 + t]];
    }
  }
}
