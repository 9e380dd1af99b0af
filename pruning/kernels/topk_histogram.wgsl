// One radix-select pass of the exact top-k (pruning/element/topk.ts): counts, per value of digit
// `pass_index` of the key (lib/topk_key.wgsl), the elements whose key agrees with the prefix found
// so far (state[0..1]). Workgroups count in workgroup memory, then add their counts to
// hist[pass_index·256 + digit]; integer atomics, so the counts are exact and deterministic.
#include "lib/topk_key.wgsl"

struct Params { n: u32, pass_index: u32 }
@group(0) @binding(0) var<storage, read> scores: array<f32>;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> counts: array<atomic<u32>, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  atomicStore(&counts[lid.x], 0u);
  workgroupBarrier();
  let p = params.pass_index;
  let prefix_hi = state[0];
  let prefix_lo = state[1];
  for (var i = wid.x * 256u + lid.x; i < params.n; i += nwg.x * 256u) {
    let hi = topk_ordered_bits(scores[i]);
    let lo = topk_key_lo(i);
    if (topk_matches(hi, lo, prefix_hi, prefix_lo, p)) {
      atomicAdd(&counts[topk_digit(hi, lo, p)], 1u);
    }
  }
  workgroupBarrier();
  let c = atomicLoad(&counts[lid.x]);
  if (c != 0u) { atomicAdd(&hist[p * 256u + lid.x], c); }
}
