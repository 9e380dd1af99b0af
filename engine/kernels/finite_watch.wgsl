// FiniteWatch (engine/finite_watch.ts): records the first NaN or ±Infinity among the tensors a
// training run checks, into a small flag buffer, without reading anything back.
//   flag[0] serial of the check that found the first bad tensor (0: none so far)
//   flag[1] the step of that check      flag[2] the tensor's slot
//   flag[3] its smallest bad index      flag[4] its count of bad elements
//   flag[5] kinds seen there: 1 NaN, 2 +Infinity, 4 -Infinity
// Checks run in recording order; one whose serial differs from a non-zero flag[0] does nothing,
// since an earlier check already found the first bad tensor. Threads of one check agree on the
// serial, step and slot they store; the index is their minimum and the count their sum.
// Finiteness is read from the bit pattern (exponent all ones): WGSL lets implementations assume
// floats are finite, so comparisons such as x != x may be folded away.
struct Params { n: u32, serial: u32, step: u32, slot: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> flag: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= params.n) {
    return;
  }
  let bits = bitcast<u32>(x[i]);
  if ((bits & 0x7f800000u) != 0x7f800000u) {
    return;
  }
  let owner = atomicLoad(&flag[0]);
  if (owner != 0u && owner != params.serial) {
    return;
  }
  atomicStore(&flag[0], params.serial);
  atomicStore(&flag[1], params.step);
  atomicStore(&flag[2], params.slot);
  atomicMin(&flag[3], i);
  atomicAdd(&flag[4], 1u);
  var kind = 1u;
  if ((bits & 0x007fffffu) == 0u) {
    kind = select(4u, 2u, (bits & 0x80000000u) == 0u);
  }
  atomicOr(&flag[5], kind);
}
