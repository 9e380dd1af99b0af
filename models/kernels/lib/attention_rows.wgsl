// Shared by the attention kernels: head size D (a template value), rows held as ⌈D/4⌉ vec4s, and
// loaders of one vec4 of a q, k or v row (zero past D). The including kernel binds q, k and v.

const D = {{D}}u;
const DV = {{DV}}u; // ⌈D/4⌉: a row is DV vec4s, zero past D

// Elements 4·c4 .. 4·c4 + 3 of the row at `base` (0 past D).
fn q4(base: u32, c4: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    if (4u * c4 + t < D) { r[t] = q[base + 4u * c4 + t]; }
  }
  return r;
}
fn k4(base: u32, c4: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    if (4u * c4 + t < D) { r[t] = k[base + 4u * c4 + t]; }
  }
  return r;
}
fn v4(base: u32, c4: u32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var t = 0u; t < 4u; t++) {
    if (4u * c4 + t < D) { r[t] = v[base + 4u * c4 + t]; }
  }
  return r;
}
