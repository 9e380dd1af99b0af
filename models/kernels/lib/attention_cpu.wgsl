// Shared by the CPU attention kernels (attention_*_cpu.wgsl): head size, row loads and stores,
// subgroup broadcast of a row, and dropout uniforms.
//
// Why these kernels look as they do on a CPU driver (lavapipe, Mesa 25.0): a workgroup's
// invocations are the SIMD lanes of one thread, workgroup memory is reached through per-lane
// loops and a barrier is a coroutine switch, and every storage load is a per-lane loop of scalar
// loads with bounds checks. The GPU kernels stage K/V tiles in workgroup memory with two barriers
// per tile and then have every thread read every staged row. Here a workgroup is one subgroup;
// the rows that all lanes need (keys in the forward and dq passes, queries in the dk/dv pass)
// are loaded once, one row per lane, SG rows at a time, and each lane reads the others' rows with
// subgroupShuffle (a register permute); each lane keeps R rows of its own in registers (spilled
// to the stack past the register file, which costs a vector load/store, not a storage load).
// Rows are vec4s when the head's columns start on a vec4 (head size and width multiples of 4),
// else element by element.
//
// The including kernel binds q, k, v (array<vec4<f32>>) and enables subgroups.

const D = {{D}}u;
const DV = {{DV}}u; // ⌈D/4⌉ vec4s per row
const SG = {{SG}}u;
const R = {{R}}u; // rows of its own per lane

// Row `row` of the [B·S, HD] tensor `which` (0 q, 1 k, 2 v, 3 out, 4 dout) at the head's columns
// col0 .. col0 + D: vec4 c4 of it (0 past D). `whole`: rows start on vec4s.
fn row4(which: u32, at: u32, c4: u32, whole: bool) -> vec4<f32> {
  if (whole) {
    return load_whole(which, at / 4u + c4);
  }
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    if (4u * c4 + t < D) {
      let e = at + 4u * c4 + t;
      r[t] = load_whole(which, e / 4u)[e % 4u];
    }
  }
  return r;
}

fn shuffle4(v: vec4<f32>, lane: u32) -> vec4<f32> {
  return vec4<f32>(subgroupShuffle(v.x, lane), subgroupShuffle(v.y, lane), subgroupShuffle(v.z, lane), subgroupShuffle(v.w, lane));
}

// Dropout multiplier stream of element `idx` of the probabilities [B, heads, S, S]: the Philox
// uniform of idx under `key`, as E.dropout numbers them. `cache` holds the last block drawn.
struct PhiloxCache { block: u32, r: vec4<u32> }

fn dropout_uniform(cache: ptr<function, PhiloxCache>, idx: u32, key: vec2<u32>) -> f32 {
  let blk = idx / 4u;
  if (blk != (*cache).block) {
    (*cache).block = blk;
    (*cache).r = philox4x32(vec4<u32>(blk, 0u, 0u, 0u), key);
  }
  return u01((*cache).r[idx % 4u]);
}
