// Embedding lookup of f16 inference: out[r, c] = table[ids[r], c] for a table [vocab, H] in f16
// (ids checked against vocab by the op on the host). A copy: no rounding.
enable f16;

struct Params { n: u32, H: u32 }
@group(0) @binding(0) var<storage, read> table: array<f16>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f16>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) {
    let r = i / params.H;
    out[i] = table[u32(ids[r]) * params.H + i % params.H];
  }
}
