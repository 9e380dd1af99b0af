// Gradient of softmax (dx = y ⊙ (dy − Σ dy⊙y)) or of log-softmax (dx = dy − exp(y) Σ dy) over the
// last axis, for CPU adapters: the CPU variant of softmax_backward.wgsl. One row per invocation,
// no barrier, vec4 accesses (softmax_cpu.wgsl explains why): pass 1 reads dy (and y) for the
// sum, pass 2 reads both and writes dx. Rows whose length is not a multiple of 4 go element by
// element.
override LOG: bool = false;

struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> params: Params;

fn load(which: u32, base: u32, c: u32, whole: bool) -> vec4<f32> {
  if (whole) {
    if (which == 0u) { return y[(base + c) / 4u]; }
    return dy[(base + c) / 4u];
  }
  var v = vec4<f32>(0.0);
  for (var t = 0u; t < 4u && c + t < params.cols; t++) {
    let e = base + c + t;
    if (which == 0u) { v[t] = y[e / 4u][e % 4u]; } else { v[t] = dy[e / 4u][e % 4u]; }
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
  var s4 = vec4<f32>(0.0);
  for (var c = 0u; c < C; c += 4u) {
    if (LOG) {
      s4 += load(1u, base, c, whole);
    } else {
      s4 = fma(load(1u, base, c, whole), load(0u, base, c, whole), s4);
    }
  }
  let s = (s4.x + s4.y) + (s4.z + s4.w);
  for (var c = 0u; c < C; c += 4u) {
    let yv = load(0u, base, c, whole);
    let g = load(1u, base, c, whole);
    var out: vec4<f32>;
    if (LOG) { out = g - exp(yv) * s; } else { out = yv * (g - vec4<f32>(s)); }
    if (whole) {
      dx[(base + c) / 4u] = out;
    } else {
      for (var t = 0u; t < 4u && c + t < C; t++) {
        let e = base + c + t;
        dx[e / 4u][e % 4u] = out[t];
      }
    }
  }
}
