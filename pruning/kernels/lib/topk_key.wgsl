// Keys of the exact top-k (pruning/element/topk.ts). Element i with score s orders as the 56-bit
// key (topk_ordered_bits(s), 0xFFFFFF − i): larger scores first, equal scores by lower index, so
// no two keys are equal and the k largest are exactly k elements. Digits are 8 bits, most
// significant first: digits 0-3 from the score's bits, 4-6 from the index's.

// f32 bits mapped to u32 so that unsigned order is the floats' order (negatives flipped whole;
// −0 counts as +0, so that equal scores tie).
fn topk_ordered_bits(s: f32) -> u32 {
  var u = bitcast<u32>(s);
  if (u == 0x80000000u) { u = 0u; }
  if ((u & 0x80000000u) != 0u) { return ~u; }
  return u | 0x80000000u;
}

fn topk_key_lo(i: u32) -> u32 {
  return 0xFFFFFFu - i;
}

// Digit p (0..6) of the key (hi, lo).
fn topk_digit(hi: u32, lo: u32, p: u32) -> u32 {
  if (p < 4u) { return (hi >> (24u - 8u * p)) & 0xFFu; }
  return (lo >> (16u - 8u * (p - 4u))) & 0xFFu;
}

// Whether the key agrees with the prefix on digits 0..p-1 (p ≤ 6).
fn topk_matches(hi: u32, lo: u32, prefix_hi: u32, prefix_lo: u32, p: u32) -> bool {
  var mask_hi = 0u;
  var mask_lo = 0u;
  if (p >= 4u) {
    mask_hi = 0xFFFFFFFFu;
  } else if (p > 0u) {
    mask_hi = ~(0xFFFFFFFFu >> (8u * p));
  }
  if (p > 4u) { mask_lo = 0xFFFFFFu & ~(0xFFFFFFu >> (8u * (p - 4u))); }
  return (hi & mask_hi) == (prefix_hi & mask_hi) && (lo & mask_lo) == (prefix_lo & mask_lo);
}
