// Reductions across a workgroup of 64 invocations (one value each), through workgroup memory.
// Call from uniform control flow (they contain barriers); every invocation gets the result.

var<workgroup> wg_scratch: array<f32, 64>;

fn workgroup_sum(v: f32, lid: u32) -> f32 {
  wg_scratch[lid] = v;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w = w / 2u) {
    if (lid < w) {
      wg_scratch[lid] += wg_scratch[lid + w];
    }
    workgroupBarrier();
  }
  let r = wg_scratch[0];
  workgroupBarrier();
  return r;
}

fn workgroup_max(v: f32, lid: u32) -> f32 {
  wg_scratch[lid] = v;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w = w / 2u) {
    if (lid < w) {
      wg_scratch[lid] = max(wg_scratch[lid], wg_scratch[lid + w]);
    }
    workgroupBarrier();
  }
  let r = wg_scratch[0];
  workgroupBarrier();
  return r;
}
