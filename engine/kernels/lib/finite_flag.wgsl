// FiniteWatch's flag (engine/finite_watch.ts): records the first NaN or ±Infinity among the
// tensors a training run checks, without reading anything back. The including kernel declares
//   var<storage, read_write> flag: array<atomic<u32>>;
// and calls finite_flag_record for each non-finite element it finds. Words:
//   flag[0] serial of the check that found the first bad tensor (0: none so far)
//   flag[1] the step of that check      flag[2] its slot
//   flag[3] its smallest bad index, over the check's parts laid end to end
//   flag[4 + 2·part] bad elements of that part   flag[5 + 2·part] kinds seen there: 1 NaN, 2 +Inf, 4 −Inf
// A check covers up to three tensors of n elements each (the parts: finite_watch.wgsl checks one;
// AdamW checks the parameter, exp_avg and exp_avg_sq it writes, in that order), so element i of
// part k has index k·n + i, and the smallest index names the first bad part and element.
// Checks run in recording order; one whose serial differs from a non-zero flag[0] does nothing,
// since an earlier check already found the first bad tensor. Threads of one check agree on the
// serial, step and slot they store; the index is their minimum and the counts their sums.
// Finiteness is read from the bit pattern (exponent all ones): WGSL lets implementations assume
// floats are finite, so comparisons such as x != x may be folded away.

// One check: its serial (never 0), the step it reports and the slot naming its tensors.
struct FiniteCheck { serial: u32, step: u32, slot: u32 }

fn nonfinite_bits(bits: u32) -> bool {
  return (bits & 0x7f800000u) == 0x7f800000u;
}

// Whether any component of x is NaN or ±Infinity (a cheap test before the per-element record).
fn any_nonfinite4(x: vec4<f32>) -> bool {
  return any((bitcast<vec4<u32>>(x) & vec4<u32>(0x7f800000u)) == vec4<u32>(0x7f800000u));
}

// Records element `index` (k·n + i) of part `part`, whose value has the non-finite bit pattern `bits`.
fn finite_flag_record(check: FiniteCheck, part: u32, index: u32, bits: u32) {
  let owner = atomicLoad(&flag[0]);
  if (owner != 0u && owner != check.serial) {
    return;
  }
  atomicStore(&flag[0], check.serial);
  atomicStore(&flag[1], check.step);
  atomicStore(&flag[2], check.slot);
  atomicMin(&flag[3], index);
  atomicAdd(&flag[4u + 2u * part], 1u);
  var kind = 1u;
  if ((bits & 0x007fffffu) == 0u) {
    kind = select(4u, 2u, (bits & 0x80000000u) == 0u);
  }
  atomicOr(&flag[5u + 2u * part], kind);
}

// Records value x of element i of part `part` (parts of n elements) if it is not finite.
fn finite_flag_value(check: FiniteCheck, n: u32, part: u32, i: u32, x: f32) {
  let bits = bitcast<u32>(x);
  if (nonfinite_bits(bits)) {
    finite_flag_record(check, part, part * n + i, bits);
  }
}
