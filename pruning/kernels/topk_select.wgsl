// After a histogram pass of the exact top-k (topk_histogram.wgsl): walks the 256 counts from the
// largest digit down to the one holding the k_remaining-th largest key, appends that digit to the
// prefix and subtracts the counts above it. state = [prefix_hi, prefix_lo, k_remaining], with
// k_remaining ≥ 1 on entry. One thread: 256 steps.
struct Params { pass_index: u32 }
@group(0) @binding(0) var<storage, read> hist: array<u32>;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(1, 1, 1)
fn main() {
  let p = params.pass_index;
  var remaining = state[2];
  var digit = 0u;
  for (var b = 255i; b >= 0i; b--) {
    let c = hist[p * 256u + u32(b)];
    if (c >= remaining) {
      digit = u32(b);
      break;
    }
    remaining -= c;
  }
  if (p < 4u) {
    state[0] = state[0] | (digit << (24u - 8u * p));
  } else {
    state[1] = state[1] | (digit << (16u - 8u * (p - 4u)));
  }
  state[2] = remaining;
}
