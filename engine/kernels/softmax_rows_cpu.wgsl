// y = softmax(x + mask) over the last axis (or log-softmax when LOG), for CPU adapters, on rows of
// exactly ROW4 = {{ROW4}} vec4s with ROW4 a multiple of the subgroup size SG = {{SG}} (attention
// scores: S = 32, 64, 128 with SG = 8; the op's CPU_REGISTER_ROW_MAX bounds it, since the unrolled
// code's compile time grows with the row). Same bindings and parameters as softmax_cpu.wgsl,
// which serves every other row length; the op picks between them.
//
// Design (lavapipe: llvmpipe with 8-wide lanes on 2 shared cores; measured as ratios within one
// run, [8,8,128,128] scores with a [8,1,1,128] mask, the bench kernels' softmax row):
// - A row per invocation, rows across the SIMD lanes, no workgroup memory, no barrier (as in
//   softmax_cpu.wgsl; each lane then walks its own row sequentially, which measured faster on
//   lavapipe than neighbouring lanes on neighbouring vec4s: a unary map with lanes on contiguous
//   vec4s took 1.5× the CPU time of one with each lane on its own run of vec4s).
// - The row is read once into registers (the loops are unrolled by the preprocessor, so every
//   value has a name; llvmpipe spills what does not fit as whole vectors on the stack) and max,
//   Σ e^(x − m) and the output come from the registers: one read and one write of the row and one
//   exp per element, where the streaming kernel reads it three times and evaluates exp twice.
// - The mask. Attention masks are [B, 1, 1, S]: every row of a batch element adds the same mask
//   row. A per-lane load of it costs as much as the load of x (llvmpipe loads a vec4 lane by
//   lane); with MASK_SHARED (the op checks that each aligned block of 64 rows adds one mask row)
//   lane l loads vec4 l of each block of SG mask vec4s and every lane takes vec4 j of the block
//   from lane j with subgroupShuffle (a register permute). Without MASK_SHARED each lane loads
//   its own mask row. Both changes together, against softmax_cpu.wgsl on the same input in the
//   same run (41 interleaved runs, three runs): masked softmax 1.78 / 1.75 / 3.17 ms → 1.20 /
//   1.15 / 1.76 ms (wall-clock minima), CPU time (medians) 1.6× less; unmasked about the same
//   (1.27 / 1.12 / 2.05 → 1.09 / 1.39 / 1.73 ms): the mask's loads were half the masked kernel.
//   Neither exp (replacing it by a subtraction left the time unchanged) nor the number of passes
//   over x (three vs one: within noise without a mask) is what bounds it: llvmpipe's per-lane
//   storage accesses are. The same mask sharing in a three-pass streaming loop (no registers)
//   measured 1.70 ms against 1.80 (streaming, per-lane mask) and 1.03 (this kernel) in one run:
//   it is the combination that pays.
// - Lanes past the last row work on the last row and store nothing: the shuffles need every lane
//   of the subgroup.
// - Why not this on a GPU: a thread per row leaves neighbouring threads' loads a row apart (no
//   coalescing) and 2·ROW4 live vec4s per thread would cut occupancy; softmax.wgsl (a workgroup
//   per row with a tree reduction) stays the GPU variant.
enable subgroups;
#include "lib/strided.wgsl"

override LOG: bool = false;
override HAS_MASK: bool = false;
override MASK_SHARED: bool = false;
const SG = {{SG}}u;

struct Params {
  rows: u32,
  cols: u32,
  lead_rank: u32,
  mask_cols: u32,
  lead_shape: array<vec4<u32>, 2>,
  mask_strides: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> mask: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;

fn shuffle4(v: vec4<f32>, lane: u32) -> vec4<f32> {
  return vec4<f32>(subgroupShuffle(v.x, lane), subgroupShuffle(v.y, lane), subgroupShuffle(v.z, lane), subgroupShuffle(v.w, lane));
}

// Mask vec4 i4 of the row whose mask starts at m4 (a vec4 index); `held` is this lane's vec4 of
// the block of SG mask vec4s that holds i4, j = i4 % SG.
fn mask4(m4: u32, i4: u32, held: vec4<f32>, j: u32) -> vec4<f32> {
  if (MASK_SHARED) { return shuffle4(held, j); }
  return mask[m4 + i4];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let row_id = gid.x + gid.y * nwg.x * 64u;
  let live = row_id < params.rows;
  let row = min(row_id, params.rows - 1u);
  let b4 = row * {{ROW4}}u;

  // The row's mask: a scalar (mask_cols = 1) or a row starting at vec4 m4; with MASK_SHARED the
  // workgroup's first row names it, so it is the same in every lane.
  var m4 = 0u;
  var mscalar = vec4<f32>(0.0);
  if (HAS_MASK) {
    let first_row = (wid.x + wid.y * nwg.x) * 64u;
    let mask_base = strided_offset(select(row, first_row, MASK_SHARED), params.lead_rank, params.lead_shape, params.mask_strides);
    if (params.mask_cols == 1u) { mscalar = vec4<f32>(mask[mask_base / 4u][mask_base % 4u]); }
    m4 = mask_base / 4u;
  }
  let row_mask = HAS_MASK && params.mask_cols != 1u;

  var mx = vec4<f32>(-3.4028234e38);
  #unroll k {{ROW4}} / {{SG}}
  var mk{{k}} = vec4<f32>(0.0);
  if (row_mask && MASK_SHARED) { mk{{k}} = mask[m4 + {{k}}u * SG + lane]; }
  #unroll j {{SG}}
  var v{{k}}_{{j}} = x[b4 + {{k}}u * SG + {{j}}u] + mscalar;
  if (row_mask) { v{{k}}_{{j}} += mask4(m4, {{k}}u * SG + {{j}}u, mk{{k}}, {{j}}u); }
  mx = max(mx, v{{k}}_{{j}});
  #end
  #end
  let m = vec4<f32>(max(max(mx.x, mx.y), max(mx.z, mx.w)));

  var s4 = vec4<f32>(0.0);
  #unroll k {{ROW4}} / {{SG}}
  #unroll j {{SG}}
  let e{{k}}_{{j}} = exp(v{{k}}_{{j}} - m);
  s4 += e{{k}}_{{j}};
  #end
  #end
  let s = (s4.x + s4.y) + (s4.z + s4.w);
  let inv_s = vec4<f32>(1.0 / s);
  let log_s = vec4<f32>(log(s));

  if (live) {
    #unroll k {{ROW4}} / {{SG}}
    #unroll j {{SG}}
    if (LOG) { y[b4 + {{k}}u * SG + {{j}}u] = v{{k}}_{{j}} - m - log_s; } else { y[b4 + {{k}}u * SG + {{j}}u] = e{{k}}_{{j}} * inv_s; }
    #end
    #end
  }
}
