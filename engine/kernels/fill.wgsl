// out[i] = bitcast(bits): constants, and NaN poisoning of fresh outputs in tests.
struct Params { n: u32, bits: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<{{T}}>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i < params.n) {
    out[i] = bitcast<{{T}}>(params.bits);
  }
}
