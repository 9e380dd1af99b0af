// y = softmax(x + mask) over the last axis (or log-softmax when LOG), for CPU adapters: the CPU
// variant of softmax.wgsl (same bindings and parameters; mask broadcasting as described there).
// Rows whose length is a multiple of 4 × the subgroup size, up to 128 (attention scores), go to
// softmax_rows_cpu.wgsl instead, which holds the row in registers and shares an attention mask
// row across lanes; this kernel serves every other length.
//
// Design. The GPU kernel gives each row a workgroup of 64 threads and combines their partial max
// and sum through workgroup memory: on a CPU driver those 64 invocations are 8 SIMD passes of one
// thread and each of the 12 barriers is a coroutine switch of all of them, so a row of 128 costs
// more in barriers than in arithmetic (0.14 GB/s measured). Here each invocation owns a whole row
// (rows across the SIMD lanes, 64 rows per workgroup), with no barrier and no workgroup memory:
//   pass 1: the row's max, per vec4 component, then over the 4 components;
//   pass 2: s = Σ e^(x − m);
//   pass 3: y = e^(x − m) / s (or x − m − log s), written as vec4s.
// The online form (one pass: s ← s·e^(m − m') + e^(x − m'), Milakov & Gimelshein 2018) saves a
// read but evaluates two exps per element; on lavapipe exp costs more than a re-read, and the
// three-pass form ran 1.6× faster on [8,8,128,128] (minima of 15 runs, A/B twice in one session).
// Three reads and one write of the row, as vec4s (on lavapipe a storage access costs a per-lane loop
// per vector, so 4 elements per access is what makes it fast). Rows whose length is not a
// multiple of 4 are read and written element by element (about 2× slower). A GPU would run this
// layout with one thread per row, which is fine for the short rows of attention but leaves the
// reads of neighbouring threads a row apart; softmax.wgsl stays the GPU variant.
#include "lib/strided.wgsl"

override LOG: bool = false;
override HAS_MASK: bool = false;

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

// −∞, made at run time (WGSL rejects infinities in constant expressions).
fn neg_inf() -> f32 {
  var bits = 0xff800000u;
  return bitcast<f32>(bits);
}

// Elements c .. c+3 of x + mask in the row at `base` (mask row at `mask_base`); −∞ past the row
// (so padding adds e^−∞ = 0 even to a fully masked row, whose max is the finite mask value).
fn load4(base: u32, mask_base: u32, c: u32, whole: bool) -> vec4<f32> {
  var v: vec4<f32>;
  var mv = vec4<f32>(0.0);
  if (whole) {
    v = x[(base + c) / 4u];
    if (HAS_MASK) {
      if (params.mask_cols == 1u) { mv = vec4<f32>(mask[mask_base / 4u][mask_base % 4u]); } else { mv = mask[(mask_base + c) / 4u]; }
    }
    return v + mv;
  }
  for (var t = 0u; t < 4u; t++) {
    let col = c + t;
    if (col < params.cols) {
      let e = base + col;
      v[t] = x[e / 4u][e % 4u];
      if (HAS_MASK) {
        let me = mask_base + select(col, 0u, params.mask_cols == 1u);
        v[t] += mask[me / 4u][me % 4u];
      }
    } else {
      v[t] = neg_inf();
    }
  }
  return v;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= params.rows) {
    return;
  }
  let C = params.cols;
  let base = row * C;
  let whole = C % 4u == 0u;
  var mask_base = 0u;
  if (HAS_MASK) {
    mask_base = strided_offset(row, params.lead_rank, params.lead_shape, params.mask_strides);
  }

  // Pass 1 and 2: max, then the sum of exponentials (the header says why not the online form).
  var m4 = vec4<f32>(-3.4028234e38);
  for (var c = 0u; c < C; c += 4u) {
    m4 = max(m4, load4(base, mask_base, c, whole));
  }
  let m = max(max(m4.x, m4.y), max(m4.z, m4.w));
  var s4 = vec4<f32>(0.0);
  for (var c = 0u; c < C; c += 4u) {
    s4 += exp(load4(base, mask_base, c, whole) - vec4<f32>(m));
  }
  let s = s4.x + s4.y + s4.z + s4.w;
  let inv_s = 1.0 / s;
  let log_s = log(s);

  for (var c = 0u; c < C; c += 4u) {
    let v = load4(base, mask_base, c, whole) - vec4<f32>(m);
    var out: vec4<f32>;
    if (LOG) { out = v - vec4<f32>(log_s); } else { out = exp(v) * inv_s; }
    if (whole) {
      y[(base + c) / 4u] = out;
    } else {
      for (var t = 0u; t < 4u && c + t < C; t++) {
        let e = base + c + t;
        y[e / 4u][e % 4u] = out[t];
      }
    }
  }
}
