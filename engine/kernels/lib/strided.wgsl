// Strided indexing for shapes of rank ≤ 8, packed as two vec4<u32> per shape or stride list in
// uniforms (dimension d at [d / 4][d % 4]); the innermost dimension is the last.

// Selects instead of indexing a local copy of the array: a dynamically indexed function-local
// array lives in (slow, spilled) private memory on GPUs and on the stack under lavapipe.
fn dim8(v: array<vec4<u32>, 2>, d: u32) -> u32 {
  return select(v[0], v[1], d >= 4u)[d % 4u];
}

// Offset of linear index i of `shape` (rank dims) in a tensor with `strides`.
fn strided_offset(i: u32, rank: u32, shape: array<vec4<u32>, 2>, strides: array<vec4<u32>, 2>) -> u32 {
  var rem = i;
  var off = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let size = dim8(shape, u32(d));
    off += (rem % size) * dim8(strides, u32(d));
    rem = rem / size;
  }
  return off;
}
