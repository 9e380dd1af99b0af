// The active units of a CoFi intermediate_z, listed on the GPU (the host never reads z):
//   units[0] = count of units with z ≠ 0, units[1 + r] = the r-th of them in ascending order.
// Entries past the count are left as they were. One workgroup of 256 threads walks z in chunks
// of 256 with a Hillis–Steele scan of the keep flags in workgroup memory: O(I log 256) work,
// deterministic, and negligible next to the FFN's GEMMs.
struct Params { n: u32 }
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read_write> units: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> scan: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  var base = 0u;
  for (var c0 = 0u; c0 < params.n; c0 += 256u) {
    let u = c0 + li;
    var flag = 0u;
    if (u < params.n) {
      flag = select(0u, 1u, z[u] != 0.0);
    }
    scan[li] = flag;
    workgroupBarrier();
    for (var offset = 1u; offset < 256u; offset *= 2u) {
      var t = 0u;
      if (li >= offset) {
        t = scan[li - offset];
      }
      workgroupBarrier();
      scan[li] += t;
      workgroupBarrier();
    }
    if (flag == 1u) {
      units[base + scan[li]] = u; // 1 + (inclusive prefix − 1)
    }
    base += scan[255];
    workgroupBarrier();
  }
  if (li == 0u) {
    units[0] = base;
  }
}
